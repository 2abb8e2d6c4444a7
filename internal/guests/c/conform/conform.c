/* conform prints a deterministic transcript of WASI preview 1 behaviour as
 * seen through wasi-libc: arguments, environment, files, directories,
 * seeking, appending, renaming, listing, stat, errno values, clocks and
 * randomness. Usage: conform DIR [ARGS...]; DIR must be empty. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <poll.h>
#include <sched.h>
#include <wasi/api.h>

static char dir[512];

static const char *p(const char *name) {
	static char buf[4][1024];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

static void result(const char *label, int rc) {
	if (rc < 0)
		printf("%s: errno %d (%s)\n", label, errno, strerror(errno));
	else
		printf("%s: ok %d\n", label, rc);
}

static void must(const char *label, int rc) {
	if (rc < 0) {
		printf("%s: FAILED errno %d (%s)\n", label, errno, strerror(errno));
		exit(1);
	}
}

static int cmp(const void *a, const void *b) {
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *label, const char *path) {
	DIR *d = opendir(path);
	if (!d) {
		result(label, -1);
		return;
	}
	char *names[256];
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL && n < 256) {
		char buf[300];
		/* Some implementations list "." and "..", some do not. */
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(buf, sizeof buf, "%s%s", e->d_name, e->d_type == DT_DIR ? "/" : "");
		names[n++] = strdup(buf);
	}
	closedir(d);
	qsort(names, n, sizeof names[0], cmp);
	printf("%s:", label);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
}

static void cat(const char *label, const char *path) {
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		result(label, -1);
		return;
	}
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	printf("%s: %zd \"", label, n);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] >= 32 && buf[i] < 127)
			putchar(buf[i]);
		else
			printf("\\x%02x", (unsigned char)buf[i]);
	}
	printf("\"\n");
}

static int put(const char *path, const char *s, int flags) {
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, s, strlen(s));
	close(fd);
	return (int)n;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: conform DIR [ARGS...]\n");
		return 64;
	}
	snprintf(dir, sizeof dir, "%s", argv[1]);
	printf("argc: %d\n", argc - 2);
	for (int i = 2; i < argc; i++)
		printf("arg: %s\n", argv[i]);
	const char *a = getenv("CONFORM_A");
	printf("getenv CONFORM_A=%s missing=%s\n", a ? a : "(null)", getenv("CONFORM_MISSING") ? "set" : "(null)");

	/* Files. */
	must("write a.txt", put(p("a.txt"), "hello, world\n", O_TRUNC));
	cat("read a.txt", p("a.txt"));
	struct stat st;
	result("stat a.txt", stat(p("a.txt"), &st));
	printf("stat a.txt: size=%lld reg=%d dir=%d nlink=%llu\n", (long long)st.st_size, S_ISREG(st.st_mode), S_ISDIR(st.st_mode), (unsigned long long)st.st_nlink);

	/* Seek and positional I/O. */
	int fd = open(p("a.txt"), O_RDWR);
	must("open rw", fd);
	printf("lseek set 7: %lld\n", (long long)lseek(fd, 7, SEEK_SET));
	char buf[64];
	ssize_t n = read(fd, buf, 5);
	printf("read 5: %zd %.*s\n", n, (int)n, buf);
	printf("lseek cur -3: %lld\n", (long long)lseek(fd, -3, SEEK_CUR));
	printf("lseek end 0: %lld\n", (long long)lseek(fd, 0, SEEK_END));
	printf("lseek end +4: %lld\n", (long long)lseek(fd, 4, SEEK_END));
	result("lseek negative", (int)lseek(fd, -100, SEEK_SET));
	result("pwrite 7", (int)pwrite(fd, "WORLD", 5, 7));
	n = pread(fd, buf, 64, 0);
	printf("pread 0: %zd %.*s", n, (int)n, buf);
	result("pread past end", (int)pread(fd, buf, 5, 1000));
	result("ftruncate 5", ftruncate(fd, 5));
	result("fstat", fstat(fd, &st));
	printf("fstat size=%lld\n", (long long)st.st_size);
	result("close", close(fd));
	result("close again", close(fd));
	result("read closed", (int)read(fd, buf, 1));
	cat("after truncate", p("a.txt"));
	fd = open(p("a.txt"), O_WRONLY);
	result("pwrite past end", (int)pwrite(fd, "!", 1, 8));
	close(fd);
	cat("after hole", p("a.txt"));
	fd = open(p("a.txt"), O_RDONLY);
	result("write to read-only fd", (int)write(fd, "x", 1));
	close(fd);
	fd = open(p("a.txt"), O_WRONLY);
	result("read from write-only fd", (int)read(fd, buf, 1));
	close(fd);

	/* Append. */
	must("append one", put(p("log.txt"), "one\n", O_APPEND));
	must("append two", put(p("log.txt"), "two\n", O_APPEND));
	fd = open(p("log.txt"), O_RDWR | O_APPEND);
	lseek(fd, 0, SEEK_SET);
	result("append after seek 0", (int)write(fd, "three\n", 6));
	printf("offset after append: %lld\n", (long long)lseek(fd, 0, SEEK_CUR));
	close(fd);
	cat("read log", p("log.txt"));
	result("create excl existing", open(p("log.txt"), O_WRONLY | O_CREAT | O_EXCL, 0644));
	fd = open(p("log.txt"), O_WRONLY | O_TRUNC);
	result("open trunc", fd >= 0 ? 0 : -1);
	close(fd);
	stat(p("log.txt"), &st);
	printf("size after trunc: %lld\n", (long long)st.st_size);

	/* Directories. */
	must("mkdir d", mkdir(p("d"), 0755));
	result("mkdir d again", mkdir(p("d"), 0755));
	must("mkdir d/e", mkdir(p("d/e"), 0755));
	must("write d/z", put(p("d/z.txt"), "d/z.txt", 0));
	must("write d/b", put(p("d/b.txt"), "d/b.txt", 0));
	must("write d/m", put(p("d/m.txt"), "d/m.txt", 0));
	list("list d", p("d"));
	result("stat d", stat(p("d"), &st));
	printf("stat d: dir=%d\n", S_ISDIR(st.st_mode));
	result("rmdir d not empty", rmdir(p("d")));
	result("unlink dir", unlink(p("d")));
	result("rmdir a file", rmdir(p("a.txt")));
	result("open dir for write", open(p("d"), O_WRONLY));
	result("open dir O_DIRECTORY", (fd = open(p("d"), O_RDONLY | O_DIRECTORY)) >= 0 ? 0 : -1);
	if (fd >= 0) {
		result("read a dir fd", (int)read(fd, buf, 1));
		close(fd);
	}
	result("open file O_DIRECTORY", open(p("a.txt"), O_RDONLY | O_DIRECTORY));
	result("stat through a file", stat(p("a.txt/x"), &st));
	result("stat missing", stat(p("missing"), &st));
	result("stat missing/x", stat(p("missing/x"), &st));
	result("open missing", open(p("missing"), O_RDONLY));
	result("mkdir under missing", mkdir(p("missing/x"), 0755));
	result("stat a.txt/", stat(p("a.txt/"), &st));
	result("stat d/", stat(p("d/"), &st));

	/* Rename. */
	result("rename", rename(p("d/z.txt"), p("d/e/y.txt")));
	list("list d after rename", p("d"));
	list("list d/e", p("d/e"));
	cat("read renamed", p("d/e/y.txt"));
	result("rename missing", rename(p("d/nope"), p("d/x")));
	result("rename over file", rename(p("d/b.txt"), p("d/m.txt")));
	cat("read replaced", p("d/m.txt"));
	must("mkdir f", mkdir(p("f"), 0755));
	must("write f/x", put(p("f/x"), "", 0));
	result("rename dir over non-empty dir", rename(p("d/e"), p("f")));
	result("rename dir over file", rename(p("d/e"), p("a.txt")));
	result("rename file over dir", rename(p("a.txt"), p("f")));
	result("rename dir into itself", rename(p("d"), p("d/e/inner")));
	result("unlink f/x", unlink(p("f/x")));
	result("rename dir over empty dir", rename(p("d/e"), p("f")));
	list("list root", dir);
	list("list f", p("f"));

	/* Hard links. */
	result("link", link(p("a.txt"), p("a2.txt")));
	result("stat link", stat(p("a2.txt"), &st));
	printf("link nlink=%llu size=%lld\n", (unsigned long long)st.st_nlink, (long long)st.st_size);
	result("unlink original", unlink(p("a.txt")));
	cat("read link", p("a2.txt"));

	/* Times set explicitly read back exactly; syncs and hints succeed. */
	struct timespec times[2] = {{1000000000, 0}, {1234567890, 500}};
	result("utimensat", utimensat(AT_FDCWD, p("a2.txt"), times, 0));
	result("stat times", stat(p("a2.txt"), &st));
	printf("times: atime=%lld mtime=%lld.%09ld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	fd = open(p("a2.txt"), O_RDWR);
	struct timespec ftimes[2] = {{2000000000, 0}, {UTIME_OMIT, UTIME_OMIT}};
	result("futimens", futimens(fd, ftimes));
	fstat(fd, &st);
	printf("futimens: atime=%lld mtime=%lld\n", (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
	result("fsync", fsync(fd));
	result("fdatasync", fdatasync(fd));
	result("posix_fadvise", -posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL));
	int fl = fcntl(fd, F_GETFL);
	printf("getfl append=%d rdwr=%d\n", (fl & O_APPEND) != 0, (fl & O_ACCMODE) == O_RDWR);
	result("setfl append", fcntl(fd, F_SETFL, O_APPEND));
	fl = fcntl(fd, F_GETFL);
	printf("getfl append=%d\n", (fl & O_APPEND) != 0);
	result("write appended", (int)write(fd, "+", 1));
	close(fd);
	cat("after setfl append", p("a2.txt"));
	fd = open(p("a2.txt"), O_RDONLY);
	int fd2 = open(p("log.txt"), O_RDONLY);
	result("renumber", __wasi_fd_renumber(fd, fd2) == 0 ? 0 : -1);
	n = read(fd2, buf, 5);
	printf("read renumbered: %zd %.*s\n", n, (int)(n > 0 ? n : 0), buf);
	result("read old fd after renumber", (int)read(fd, buf, 1));
	close(fd2);
	char lbuf[64];
	result("readlink a file", (int)readlink(p("a2.txt"), lbuf, sizeof lbuf));
	result("readlink missing", (int)readlink(p("nope"), lbuf, sizeof lbuf));
	result("sched_yield", sched_yield());
	fd = open(p("a2.txt"), O_RDONLY);
	struct pollfd pf = {fd, POLLIN, 0};
	result("poll file", poll(&pf, 1, 1000));
	printf("poll revents in=%d\n", (pf.revents & POLLIN) != 0);
	close(fd);
	result("open missing fd", (int)write(99, "x", 1));

	/* Remove. */
	result("unlink m", unlink(p("d/m.txt")));
	result("unlink m again", unlink(p("d/m.txt")));
	result("rmdir d", rmdir(p("d")));
	result("unlink f/y", unlink(p("f/y.txt")));
	result("rmdir f", rmdir(p("f")));
	list("list root after remove", dir);

	/* Many entries, to exercise readdir cookies. */
	must("mkdir many", mkdir(p("many"), 0755));
	for (int i = 0; i < 100; i++) {
		char name[128];
		snprintf(name, sizeof name, "many/file-%03d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i);
		must("create", put(p(name), "", 0));
	}
	DIR *dd = opendir(p("many"));
	struct dirent *e;
	int count = 0;
	while ((e = readdir(dd)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			count++;
	closedir(dd);
	printf("readdir many: %d\n", count);

	/* Clocks and randomness. */
	struct timespec ts, m0, m1, res;
	result("clock realtime", clock_gettime(CLOCK_REALTIME, &ts));
	printf("realtime after 2020: %d\n", ts.tv_sec > 1577836800);
	result("clock monotonic", clock_gettime(CLOCK_MONOTONIC, &m0));
	struct timespec nap = {0, 10 * 1000 * 1000};
	result("nanosleep 10ms", nanosleep(&nap, NULL));
	clock_gettime(CLOCK_MONOTONIC, &m1);
	long long el = (m1.tv_sec - m0.tv_sec) * 1000000000LL + (m1.tv_nsec - m0.tv_nsec);
	printf("monotonic advanced >= 10ms: %d\n", el >= 10000000LL);
	result("clock_getres monotonic", clock_getres(CLOCK_MONOTONIC, &res));
	printf("resolution positive: %d\n", res.tv_sec > 0 || res.tv_nsec > 0);
	unsigned char r1[32], r2[32], zero[32] = {0};
	result("getentropy", getentropy(r1, 32) | getentropy(r2, 32));
	printf("random differs: %d\n", memcmp(r1, r2, 32) != 0 && memcmp(r1, zero, 32) != 0);

	/* Standard streams. */
	fprintf(stderr, "to stderr\n");
	n = read(0, buf, sizeof buf);
	printf("stdin: %zd %.*s\n", n, n > 0 ? (int)n : 0, buf);
	printf("done\n");
	fflush(stdout);
	return argc > 2 && strcmp(argv[2], "exit7") == 0 ? 7 : 0;
}
