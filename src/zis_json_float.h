/*
** zis_json_float.h: shortest exact decimal form of a double.
*/
#ifndef ZIS_JSON_FLOAT_H
#define ZIS_JSON_FLOAT_H

#include <stddef.h>
#include <stdint.h>

/* Room zis_json_format_double needs: "-1.2345678901234567e-308" and more. */
#define ZIS_DOUBLE_BUFSIZE 32

/* For a finite v > 0: the fewest decimal digits d (no trailing zeros) and
** exponent k such that d * 10^k reads back as v; among candidates of that
** length, the one nearest v.  */
void zis_json_shortest (double v, uint64_t *digits, int *exp10);

/* Writes finite v into buf (ZIS_DOUBLE_BUFSIZE bytes, no '\0') and returns
** the length: shortest digits, always marked as a float ('.' or 'e'),
** laid out as printf's %.Pg with P = max(15, digits) would: "0.1",
** "100.0", "1e-07", "1.5e+300", "-0.0". */
size_t zis_json_format_double (double v, char *buf);

/* w * 10^q correctly rounded into *out, for 0 < w < 2^64: returns 1, or
** 0 when it cannot be sure quickly (then use strtod). */
int zis_json_decimal_to_double (uint64_t w, int q, double *out);

/* Writes the decimal digits of v into buf (at least 24 bytes, no '\0')
** and returns the length. */
size_t zis_json_format_integer (int64_t v, char *buf);

#endif
