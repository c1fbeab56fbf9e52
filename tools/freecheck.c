/* build/freecheck.so: an LD_PRELOAD'ed free() for spec/safety_spec.lua.
** Before each block goes back to the allocator it looks at the block's
** first bytes: a block that starts with one of the prefixes listed in
** ZIS_FREECHECK ("|"-separated, e.g. "Authorization: |canary@example.com")
** is a credential freed without being overwritten first.  lua-zis zeroes
** every buffer that held a credential (zis_free_secret, free_headers), so
** such a block means it did not.  Each one is reported on stderr (the
** prefix only, never the secret), and at exit a line with the counts:
**   zis-freecheck: N blocks checked, N credentials freed unzeroed
** libcurl's own buffers (the request it writes, starting with the method)
** never start so; a zeroed block starts with a zero byte. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PREFIXES 8

static void (*real_free)(void *);
static int resolving;
static char prefixes[512];
static const char *prefix[MAX_PREFIXES];
static size_t prefix_len[MAX_PREFIXES];
static int nprefix;
static unsigned long checked, unzeroed;

__attribute__((constructor)) static void init (void) {
  const char *env = getenv("ZIS_FREECHECK");
  char *p;
  if (env == NULL) return;
  strncpy(prefixes, env, sizeof prefixes - 1);
  for (p = prefixes; *p != '\0' && nprefix < MAX_PREFIXES; ) {
    char *bar = strchr(p, '|');
    if (bar != NULL) *bar = '\0';
    if (*p != '\0') { prefix[nprefix] = p; prefix_len[nprefix] = strlen(p); nprefix++; }
    if (bar == NULL) break;
    p = bar + 1;
  }
}

__attribute__((destructor)) static void report (void) {
  char line[128];
  int n = snprintf(line, sizeof line, "zis-freecheck: %lu blocks checked, %lu credentials freed unzeroed\n",
                   checked, unzeroed);
  if (n > 0 && write(2, line, (size_t)n) < 0) return;
}

void free (void *p) {
  if (real_free == NULL) {
    if (resolving) return;  /* dlsym's own frees, before there is a free to call: leaked */
    resolving = 1;
    *(void **)(&real_free) = dlsym(RTLD_NEXT, "free");
    resolving = 0;
    if (real_free == NULL) return;
  }
  if (p != NULL) {
    size_t size = malloc_usable_size(p);
    int i;
    checked++;
    for (i = 0; i < nprefix; i++) {
      if (size >= prefix_len[i] && memcmp(p, prefix[i], prefix_len[i]) == 0) {
        char line[128];
        int n = snprintf(line, sizeof line, "zis-freecheck: freed unzeroed: a block starting \"%.40s\"\n",
                         prefix[i]);
        unzeroed++;
        if (n > 0 && write(2, line, (size_t)n) < 0) break;
        break;
      }
    }
  }
  real_free(p);
}
