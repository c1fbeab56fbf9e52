/*
** zis_json_internal.h: what the two halves of the JSON codec share
** (zis_json_decode.c, zis_json.c).  Private to them.
*/
#ifndef ZIS_JSON_INTERNAL_H
#define ZIS_JSON_INTERNAL_H

#define MAX_DEPTH 1000      /* documented: deeper nesting is refused */
#define ARRAY_MT "zis.array"
#define OBJECT_MT "zis.object"
#define BOX_MT "zis.jsonbuf"

#if defined(__GNUC__)
#define NORETURN __attribute__((noreturn))
#define NOINLINE __attribute__((noinline))
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#define NORETURN
#define NOINLINE
#endif

/* ======================================================================
** Scanning strings: shared by the decoder (what it takes as it is) and
** the encoder (what it writes as it is).  Needs <stdint.h>, <string.h>.
** ====================================================================== */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static inline size_t utf8_len (const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0xC2) return 0;  /* continuation byte, or an overlong lead */
  if (c < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && s[1] < 0xA0) return 0;   /* overlong */
    if (c == 0xED && s[1] >= 0xA0) return 0;  /* a surrogate */
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80
        || (s[3] & 0xC0) != 0x80) return 0;
    if (c == 0xF0 && s[1] < 0x90) return 0;   /* overlong */
    if (c == 0xF4 && s[1] >= 0x90) return 0;  /* beyond U+10FFFF */
    return 4;
  }
  return 0;
}

/* PLAIN[c]: byte c goes out (encoder) or is taken (decoder) as it is:
** printable ASCII but '"' and '\\' */
static const unsigned char PLAIN[256] = {
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  1,1,0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,0,1,1,1,
  1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
  0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
};

/* Eight bytes at a time (little-endian machines with GCC or Clang): the
** mask has the high bit of each byte at s that needs a look (a control
** character, '"', '\\' or a byte >= 0x80).  A borrow can only flag bytes
** above a true hit, so the lowest flag is exact. */
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)
static inline uint64_t look8 (const char *s) {
  uint64_t w, q, b;
  memcpy(&w, s, 8);
  q = w ^ (0x22 * ONES);
  b = w ^ (0x5C * ONES);
  return (((w - 0x20 * ONES) & ~w) | ((q - ONES) & ~q) | ((b - ONES) & ~b) | w)
         & HIGHS;
}
#define SWAR 1
#endif

#if defined(__SSE2__)
#include <emmintrin.h>

/* Bit i set: byte i of the 16 at s is not PLAIN (a signed compare with
** 0x20 flags both the control characters and the bytes >= 0x80). */
static inline unsigned hits16 (const char *s) {
  const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
  return (unsigned)_mm_movemask_epi8(_mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
      _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))));
}
#endif

/* Moves *ps over PLAIN bytes sixteen at a time (where SSE2 is) while
** sixteen are left; returns 1 when it stopped on a byte that is not. */
static inline int skip16 (const char **ps, const char *end) {
#if defined(__SSE2__)
  const char *s = *ps;
  for (; end - s >= 16; s += 16) {
    unsigned h = hits16(s);
    if (h != 0) { *ps = s + __builtin_ctz(h); return 1; }
  }
  *ps = s;
#else
  (void)ps; (void)end;
#endif
  return 0;
}

/* The same, eight at a time (little-endian GCC or Clang). */
static inline int skip8 (const char **ps, const char *end) {
#ifdef SWAR
  const char *s = *ps;
  for (; end - s >= 8; s += 8) {
    uint64_t t = look8(s);
    if (t != 0) { *ps = s + (__builtin_ctzll(t) >> 3); return 1; }
  }
  *ps = s;
#else
  (void)ps; (void)end;
#endif
  return 0;
}

/* The first byte at or after s (before end) that is not PLAIN: wide steps
** (sixteens, or eights without SSE2), then byte by byte.  For the decoder,
** whose strings lie inside a longer text. */
static inline const char *skip_plain (const char *s, const char *end) {
#if defined(__SSE2__)
  if (skip16(&s, end)) return s;
#else
  if (skip8(&s, end)) return s;
#endif
  while (s < end && PLAIN[(unsigned char)*s]) s++;
  return s;
}

/* The same for the encoder, which scans each Lua string to its exact end
** (most are shorter than sixteen bytes): eights after the sixteens. */
static inline const char *skip_plain_string (const char *s, const char *end) {
  if (skip16(&s, end) || skip8(&s, end)) return s;
  while (s < end && PLAIN[(unsigned char)*s]) s++;
  return s;
}

#endif
