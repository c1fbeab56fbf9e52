/*
** check-floats.c: zis_json_format_double against printf/strtod (make
** check-floats).  For each double: the output reads back to the same
** double; its digit count is the least p for which printf's correctly
** rounded %.{p-1}e reads back; its digits are those of that %.{p-1}e
** (the nearest of that length).  Random bit patterns (every exponent),
** random values in common ranges, and the edges.  Then the other way:
** zis_json_decimal_to_double (the decoder's quick path) against strtod on
** N random decimals w * 10^q and on the shortest forms just checked.
** Usage: check-floats [N]
*/
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zis_json_float.h"

static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next (void) {           /* xorshift64* */
  rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
  return rng * 2685821657736338717u;
}

static long failures, quick, slow;

/* the decoder's quick path against strtod, for w * 10^q */
static void check_parse (uint64_t w, int q) {
  char text[48];
  double want, got;
  snprintf(text, sizeof text, "%llue%d", (unsigned long long)w, q);
  want = strtod(text, NULL);
  if (!zis_json_decimal_to_double(w, q, &got)) { slow++; return; }
  quick++;
  if (got != want) {
    if (failures++ < 20) printf("FAIL parse %s -> %.17g, want %.17g\n", text, got, want);
  }
}

/* the digits of a decimal string (no sign, point or exponent), trailing
** zeros dropped, and its decimal exponent of the first digit */
static void norm (const char *s, char *dig, int *x) {
  int n = 0, point = -1, lead = 1, before = 0;
  for (; *s && *s != 'e'; s++) {
    if (*s == '-') continue;
    if (*s == '.') { point = 1; continue; }
    if (lead && *s == '0') { if (point == 1) before--; continue; }
    if (lead) { lead = 0; if (point != 1) before = 0; }
    if (point != 1) before++;
    dig[n++] = *s;
  }
  while (n > 0 && dig[n - 1] == '0') n--;
  dig[n] = '\0';
  *x = before - 1 + (*s == 'e' ? atoi(s + 1) : 0);
}

/* "d.ddde[+-]X" (p digits) -> the integer ddd and exponent X - (p-1) */
static void norm_digits (const char *s, unsigned long long *d, int *ex, int p) {
  unsigned long long v = 0;
  for (; *s && *s != 'e'; s++) if (*s >= '0' && *s <= '9') v = v * 10 + (unsigned)(*s - '0');
  *d = v;
  *ex = atoi(s + 1) - (p - 1);
}

static void check (double v) {
  char out[ZIS_DOUBLE_BUFSIZE + 1], ref[64], d1[32], d2[32];
  int p, x1, x2;
  size_t n;
  if (!isfinite(v)) return;
  n = zis_json_format_double(v, out);
  out[n] = '\0';
  if (strtod(out, NULL) != v || (v == 0 && signbit(v) != signbit(strtod(out, NULL)))
      || (!strchr(out, '.') && !strchr(out, 'e'))) {
    if (failures++ < 20) printf("FAIL read-back %.17g -> %s\n", v, out);
    return;
  }
  if (v == 0) return;
  /* the least p for which a p-digit decimal reads back: printf's nearest
  ** D, or D-1 or D+1 (at a power of two the interval is lopsided, so the
  ** nearest can fall out while a neighbour is in) */
  for (p = 1; p <= 17; p++) {
    unsigned long long dd;
    int ex, j;
    snprintf(ref, sizeof ref, "%.*e", p - 1, fabs(v));
    norm_digits(ref, &dd, &ex, p);
    for (j = 0; j < 3; j++) {
      unsigned long long c = j == 0 ? dd : j == 1 ? dd + 1 : dd - 1;
      snprintf(ref, sizeof ref, "%llue%d", c, ex);
      if (strtod(ref, NULL) == fabs(v)) break;
    }
    if (j < 3) break;
  }
  norm(out, d1, &x1);
  norm(ref, d2, &x2);
  if (strcmp(d1, d2) != 0 || x1 != x2) {
    if (failures++ < 20) printf("FAIL shortest %.17g -> %s, want %s\n", v, out, ref);
  }
  {                                     /* and read back by the quick path */
    uint64_t w;
    int q;
    zis_json_shortest(fabs(v), &w, &q);
    check_parse(w, q);
  }
}

int main (int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10000000, i;
  int e;
  double v;
  uint64_t b;
  /* edges: every power of two, its neighbours, powers of ten, limits */
  for (e = -1074; e <= 1023; e++) {
    v = ldexp(1.0, e);
    check(v); check(nextafter(v, 0)); check(nextafter(v, INFINITY)); check(-v);
  }
  for (e = -325; e <= 308; e++) {
    v = strtod("1e0", NULL) * pow(10, e);
    check(v); check(nextafter(v, 0)); check(nextafter(v, INFINITY));
  }
  check(0.0); check(-0.0); check(DBL_MAX); check(DBL_MIN); check(5e-324);
  check(9007199254740993.0); check(0.1); check(1.0 / 3);
  for (i = 0; i < n; i++) {
    switch (i % 4) {
      case 0: case 1:                   /* any bit pattern */
        b = next(); memcpy(&v, &b, sizeof v); break;
      case 2:                           /* a few digits, as people write */
        v = (double)(next() % 1000000) / pow(10, (int)(next() % 8)); break;
      default:                          /* uniform in a random decade */
        v = (double)(next() >> 11) / 9007199254740992.0 * pow(10, (int)(next() % 40) - 20);
    }
    check(v);
  }
  for (i = 0; i < n; i++) {            /* random decimals, 1 to 19 digits */
    uint64_t w = next(), m = 1;
    int nd = 1 + (int)(next() % 19), j;
    for (j = 0; j < nd; j++) m *= 10;
    w %= m;
    if (w == 0) w = 1;
    check_parse(w, (int)(next() % 640) - 330);
  }
  printf("check-floats: %ld random doubles and the edges, %ld random decimals "
         "(%ld read by the quick path, %ld left to strtod): %ld failures\n",
         n, n, quick, slow, failures);
  return failures != 0;
}
