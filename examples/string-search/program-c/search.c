/* The string-search guest program in C (clang-14 + wasi-libc): for every
 * non-empty line of /input/patterns.txt it writes
 * "COUNT\tFIRST\tPATTERN\n" to /output/matches.txt, counting overlapping
 * occurrences in /input/text.txt, as the Go program does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
	FILE *f = fopen(path, "rb");
	if (!f) { fprintf(stderr, "string-search-c: opening %s: ", path); perror(NULL); return NULL; }
	size_t cap = 1 << 16, n = 0;
	char *b = malloc(cap);
	for (;;) {
		if (!b) { fprintf(stderr, "string-search-c: out of memory\n"); fclose(f); return NULL; }
		n += fread(b + n, 1, cap - n, f);
		if (n < cap) break;
		cap *= 2;
		b = realloc(b, cap);
	}
	if (ferror(f)) { fprintf(stderr, "string-search-c: reading %s\n", path); fclose(f); free(b); return NULL; }
	fclose(f);
	*len = n;
	return b;
}

int main(void) {
	size_t tlen, plen;
	char *text = slurp("/input/text.txt", &tlen);
	if (!text) return 1;
	char *pats = slurp("/input/patterns.txt", &plen);
	if (!pats) return 1;
	FILE *out = fopen("/output/matches.txt", "wb");
	if (!out) { perror("string-search-c: creating /output/matches.txt"); return 1; }
	int phrases = 0;
	size_t start = 0;
	while (start < plen) {
		char *nl = memchr(pats + start, '\n', plen - start);
		size_t end = nl ? (size_t)(nl - pats) : plen;
		size_t m = end - start;
		if (m > 0) {
			const char *p = pats + start;
			long count = 0, first = -1;
			for (size_t i = 0; m <= tlen && i <= tlen - m; i++) {
				const char *c = memchr(text + i, p[0], tlen - m + 1 - i);
				if (!c) break;
				i = (size_t)(c - text);
				if (memcmp(c, p, m) == 0) {
					if (first < 0) first = (long)i;
					count++;
				}
			}
			fprintf(out, "%ld\t%ld\t%.*s\n", count, first, (int)m, p);
			phrases++;
		}
		start = end + 1;
	}
	if (fclose(out) != 0) { perror("string-search-c: writing"); return 1; }
	printf("searched for %d phrases in %zu bytes\n", phrases, tlen);
	return 0;
}
