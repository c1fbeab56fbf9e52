/*
** floor.c: the floor for the benchmarks: plain C driving libcurl with one
** easy handle (keep-alive), the same headers lua-zis sends (a User-Agent
** line of the same shape included: libcurl formats every header byte), the
** body read into memory and not decoded.
**
**   floor URL COUNT [POST_FILE]      prints seconds per request
*/
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct Buf { char *p; size_t n, cap; } Buf;

static size_t sink (char *d, size_t s, size_t n, void *ud) {
  Buf *b = ud;
  size_t k = s * n;
  if (b->n + k > b->cap) {
    b->cap = (b->n + k) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, d, k);
  b->n += k;
  return k;
}

int main (int argc, char **argv) {
  CURL *e;
  struct curl_slist *h = NULL;
  Buf b = {0};
  char *post = NULL;
  long count, i, len = 0;
  char ua[128];
  struct timespec t0, t1;
  if (argc < 3) { fprintf(stderr, "usage: floor URL COUNT [POST_FILE]\n"); return 2; }
  count = atol(argv[2]);
  if (argc > 3) {
    FILE *f = fopen(argv[3], "rb");
    fseek(f, 0, SEEK_END); len = ftell(f); fseek(f, 0, SEEK_SET);
    post = malloc((size_t)len);
    if (fread(post, 1, (size_t)len, f) != (size_t)len) return 1;
    fclose(f);
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  e = curl_easy_init();
  snprintf(ua, sizeof ua, "User-Agent: lua-zis/0.0.0 libcurl/%s Lua 5.4.4",
           curl_version_info(CURLVERSION_NOW)->version);
  h = curl_slist_append(h, "Accept: application/json");
  h = curl_slist_append(h, ua);
  h = curl_slist_append(h, "Expect:");
  h = curl_slist_append(h, "Authorization: Basic YWRtaW5AZXhhbXBsZS5jb20vdG9rZW46ZmFrZQ==");
  if (post) h = curl_slist_append(h, "Content-Type: application/json");
  curl_easy_setopt(e, CURLOPT_URL, argv[1]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);  /* the strict floor: no SIGALRM set-up per request */
  if (post) {
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (i = 0; i < count; i++) {
    b.n = 0;
    if (curl_easy_perform(e) != CURLE_OK) { fprintf(stderr, "floor: request failed\n"); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.9f\n", ((double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9) / (double)count);
  curl_easy_cleanup(e);
  curl_slist_free_all(h);
  free(b.p);
  free(post);
  curl_global_cleanup();
  return 0;
}
