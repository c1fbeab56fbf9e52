std = "lua54"
max_line_length = 120
files["spec"] = { std = "+busted" }
files["examples/embed/script.lua"] = { read_globals = { "THREAD" } }  -- set by embed.c
files["examples/manifest"] = { read_globals = { "env" } }  -- the manifest sandbox (zis.manifest)
