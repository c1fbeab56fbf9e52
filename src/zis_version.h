/*
** zis_version.h: lua-zis's version, for zis.core (which has no libcurl)
** and zis.net (which has).
*/
#ifndef ZIS_VERSION_H
#define ZIS_VERSION_H

#define ZIS_VERSION "0.2.0"

#endif
