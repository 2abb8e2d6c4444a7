/* The sort-numbers guest program in C (clang-14 + wasi-libc): it sorts
 * /input/numbers.dat (little-endian int64s) into /output/sorted.dat, as the
 * Go program does, and prints the same line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int main(void) {
	FILE *in = fopen("/input/numbers.dat", "rb");
	if (!in) { perror("sort-numbers-c: opening /input/numbers.dat"); return 1; }
	if (fseek(in, 0, SEEK_END) != 0) { perror("sort-numbers-c: seek"); return 1; }
	long size = ftell(in);
	if (size < 0 || size % 8 != 0) {
		fprintf(stderr, "sort-numbers-c: numbers file is not a whole number of 8-byte integers\n");
		return 1;
	}
	rewind(in);
	size_t n = (size_t)size / 8;
	int64_t *v = malloc(n ? n * 8 : 1);
	if (!v) { fprintf(stderr, "sort-numbers-c: out of memory\n"); return 1; }
	if (fread(v, 8, n, in) != n) { perror("sort-numbers-c: reading"); return 1; }
	fclose(in);
	qsort(v, n, 8, cmp);
	FILE *out = fopen("/output/sorted.dat", "wb");
	if (!out) { perror("sort-numbers-c: creating /output/sorted.dat"); return 1; }
	if (fwrite(v, 8, n, out) != n || fclose(out) != 0) { perror("sort-numbers-c: writing"); return 1; }
	free(v);
	printf("sorted %zu numbers\n", n);
	return 0;
}
