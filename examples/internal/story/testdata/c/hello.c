/* The story package's C test guest: writes a greeting to /output/c.txt. */
#include <stdio.h>

int main(void) {
	FILE *f = fopen("/output/c.txt", "w");
	if (f == NULL) {
		perror("hello: /output/c.txt");
		return 1;
	}
	fputs("hello from C\n", f);
	return fclose(f) == 0 ? 0 : 1;
}
