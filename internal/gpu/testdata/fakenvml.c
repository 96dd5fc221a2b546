/*
 * A fake libnvidia-ml.so.1 for testing minerguard's purego NVML binding on
 * machines without a GPU. Signatures and struct layouts are nvml.h's; the
 * data comes from the environment so one build serves every test:
 *
 *   FAKE_NVML_DEVICES  "name,gpuUtil,memUtil,totalMiB,usedMiB;..." (default:
 *                      one "Fake GPU 0,0,0,1024,0")
 *   FAKE_NVML_PROCS_<i> processes on device i, "pid:memMiB:smUtil[:memUtil],..."
 *                      memMiB "na" = NVML_VALUE_NOT_AVAILABLE; smUtil "-" = no
 *                      utilisation sample. FAKE_NVML_PROCS is device 0's.
 *   FAKE_NVML_EXTRA    N more processes on device 0 (pids 900000+i, 1 MiB, no
 *                      sample) to push the list past the caller's first buffer.
 *   FAKE_NVML_GROW     N: the first process-list call that would succeed says
 *                      INSUFFICIENT_SIZE with N more needed (processes started
 *                      meanwhile).
 *   FAKE_NVML_UTIL_GROW N: the first utilisation call with a buffer says
 *                      INSUFFICIENT_SIZE with N more samples needed.
 *   FAKE_NVML_INIT_RC  nvmlInit_v2's return code (e.g. 9, driver not loaded).
 *   FAKE_NVML_LOG      file the calls are appended to, one line each.
 *
 * Build variants (-D):
 *   (none)        modern driver (535+): _v3 and _v2 fill 24-byte entries;
 *                 nvmlDeviceGetRunningProcessDetailList is exported.
 *   FAKE_NO_V3    old driver: no _v3, so callers must fall back to _v2.
 *   FAKE_V3_STRIDE=32  535.43-535.86 driver: _v3 fills the 32-byte
 *                 nvmlProcessInfo_t with usedGpuCcProtectedMemory that those
 *                 headers declared without a version bump;
 *                 nvmlDeviceGetConfComputeMemSizeInfo is exported but
 *                 nvmlDeviceGetRunningProcessDetailList is not.
 *   FAKE_V3_STRIDE=16  a _v3 that fills 16-byte nvmlProcessInfo_v1_t
 *                 entries, as reported for some drivers (nvitop PR 226).
 * Every variant checks init was called, handles are ours, and buffers are
 * not written past the count the caller gave.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef int nvmlReturn_t;
enum {
	NVML_SUCCESS = 0,
	NVML_ERROR_UNINITIALIZED = 1,
	NVML_ERROR_INVALID_ARGUMENT = 2,
	NVML_ERROR_NOT_FOUND = 6,
	NVML_ERROR_INSUFFICIENT_SIZE = 7,
};
#define NVML_VALUE_NOT_AVAILABLE (~0ULL)

typedef struct nvmlDevice_st *nvmlDevice_t;

typedef struct nvmlUtilization_st {
	unsigned int gpu;
	unsigned int memory;
} nvmlUtilization_t;

typedef struct nvmlMemory_st {
	unsigned long long total;
	unsigned long long free;
	unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlProcessInfo_v2_st {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
} nvmlProcessInfo_v2_t;

/* nvmlProcessInfo_t as the 535.43-535.86 nvml.h declared it. */
typedef struct nvmlProcessInfo_cc_st {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId;
	unsigned int computeInstanceId;
	unsigned long long usedGpuCcProtectedMemory;
} nvmlProcessInfo_cc_t;

typedef struct nvmlProcessUtilizationSample_st {
	unsigned int pid;
	unsigned long long timeStamp;
	unsigned int smUtil;
	unsigned int memUtil;
	unsigned int encUtil;
	unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

_Static_assert(sizeof(nvmlProcessInfo_v2_t) == 24, "nvmlProcessInfo_v2_t");
_Static_assert(sizeof(nvmlProcessInfo_cc_t) == 32, "nvmlProcessInfo_t (12.0)");
_Static_assert(sizeof(nvmlProcessUtilizationSample_t) == 32, "sample");
_Static_assert(sizeof(nvmlMemory_t) == 24, "nvmlMemory_t");
/* procs() writes fields at these offsets for every stride. */
_Static_assert(offsetof(nvmlProcessInfo_cc_t, usedGpuMemory) == 8, "usedGpuMemory");
_Static_assert(offsetof(nvmlProcessInfo_cc_t, gpuInstanceId) == 16, "gpuInstanceId");
_Static_assert(offsetof(nvmlProcessInfo_cc_t, usedGpuCcProtectedMemory) == 24, "usedGpuCcProtectedMemory");

#define MAX_DEVS 8
#define MAX_PROCS 512

struct proc {
	unsigned int pid;
	unsigned long long mem;
	int sm, memutil; /* sm < 0: no sample */
};

struct nvmlDevice_st {
	char name[96];
	unsigned int util, memutil;
	unsigned long long total, used;
	int nprocs;
	struct proc procs[MAX_PROCS];
};

static struct nvmlDevice_st devs[MAX_DEVS];
static int ndevs;
static int inits;
static int grow = -1, utilGrow = -1;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	const char *path = getenv("FAKE_NVML_LOG");
	if (!path || !*path)
		return;
	FILE *f = fopen(path, "a");
	if (!f)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static void parse_procs(struct nvmlDevice_st *d, const char *spec)
{
	char *s = strdup(spec), *save = NULL;
	for (char *tok = strtok_r(s, ",", &save); tok && d->nprocs < MAX_PROCS; tok = strtok_r(NULL, ",", &save)) {
		struct proc *p = &d->procs[d->nprocs];
		char mem[32] = "", sm[32] = "", mu[32] = "";
		if (sscanf(tok, "%u:%31[^:]:%31[^:]:%31s", &p->pid, mem, sm, mu) < 3)
			continue;
		p->mem = strcmp(mem, "na") == 0 ? NVML_VALUE_NOT_AVAILABLE : strtoull(mem, NULL, 10) << 20;
		p->sm = strcmp(sm, "-") == 0 ? -1 : atoi(sm);
		p->memutil = mu[0] ? atoi(mu) : 0;
		d->nprocs++;
	}
	free(s);
}

static void load(void)
{
	memset(devs, 0, sizeof devs);
	ndevs = 0;
	const char *spec = getenv("FAKE_NVML_DEVICES");
	char *s = strdup(spec && *spec ? spec : "Fake GPU 0,0,0,1024,0"), *save = NULL;
	for (char *tok = strtok_r(s, ";", &save); tok && ndevs < MAX_DEVS; tok = strtok_r(NULL, ";", &save)) {
		struct nvmlDevice_st *d = &devs[ndevs];
		unsigned long long total = 0, used = 0;
		if (sscanf(tok, "%95[^,],%u,%u,%llu,%llu", d->name, &d->util, &d->memutil, &total, &used) < 1)
			continue;
		d->total = total << 20;
		d->used = used << 20;
		char key[32];
		snprintf(key, sizeof key, "FAKE_NVML_PROCS_%d", ndevs);
		const char *ps = getenv(key);
		if (!ps && ndevs == 0)
			ps = getenv("FAKE_NVML_PROCS");
		if (ps)
			parse_procs(d, ps);
		ndevs++;
	}
	free(s);
	const char *extra = getenv("FAKE_NVML_EXTRA");
	for (int i = 0; extra && i < atoi(extra) && devs[0].nprocs < MAX_PROCS; i++) {
		struct proc *p = &devs[0].procs[devs[0].nprocs++];
		p->pid = 900000 + i;
		p->mem = 1ULL << 20;
		p->sm = -1;
	}
	const char *g = getenv("FAKE_NVML_GROW");
	grow = g ? atoi(g) : -1;
	const char *ug = getenv("FAKE_NVML_UTIL_GROW");
	utilGrow = ug ? atoi(ug) : -1;
}

static int valid(nvmlDevice_t d)
{
	for (int i = 0; i < ndevs; i++)
		if (d == &devs[i])
			return 1;
	return 0;
}

static unsigned long long now_us(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (unsigned long long)tv.tv_sec * 1000000ULL + tv.tv_usec;
}

nvmlReturn_t nvmlInit_v2(void)
{
	const char *rc = getenv("FAKE_NVML_INIT_RC");
	logf_("nvmlInit_v2");
	if (rc && atoi(rc) != 0)
		return atoi(rc);
	if (inits++ == 0)
		load();
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void)
{
	logf_("nvmlShutdown");
	if (inits == 0)
		return NVML_ERROR_UNINITIALIZED;
	inits--;
	return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t r)
{
	static char buf[32];
	snprintf(buf, sizeof buf, "fake NVML error %d", r);
	return buf;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*count = ndevs;
	logf_("nvmlDeviceGetCount_v2 -> %d", ndevs);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	if (!device || index >= (unsigned)ndevs)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = &devs[index];
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	if (!valid(device) || !name)
		return NVML_ERROR_INVALID_ARGUMENT;
	logf_("nvmlDeviceGetName %d length=%u", (int)(device - devs), length);
	if (strlen(device->name) + 1 > length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	strcpy(name, device->name);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *u)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	if (!valid(device) || !u)
		return NVML_ERROR_INVALID_ARGUMENT;
	u->gpu = device->util;
	u->memory = device->memutil;
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *m)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	if (!valid(device) || !m)
		return NVML_ERROR_INVALID_ARGUMENT;
	m->total = device->total;
	m->used = device->used;
	m->free = device->total - device->used;
	return NVML_SUCCESS;
}

/* The process-list protocol of nvml.h: with *infoCount too small (or infos
 * NULL) return INSUFFICIENT_SIZE and set *infoCount to the number needed;
 * else fill the entries and set *infoCount to the number filled. */
static nvmlReturn_t procs(const char *fn, nvmlDevice_t device, unsigned int *infoCount, void *infos, size_t stride)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	if (!valid(device) || !infoCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	unsigned int have = *infoCount, need = device->nprocs;
	if (grow > 0 && infos && have >= need) {
		need += grow;
		grow = 0;
		*infoCount = need;
		logf_("%s %d count=%u -> INSUFFICIENT_SIZE need=%u (grown)", fn, (int)(device - devs), have, need);
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	if (need == 0) {
		*infoCount = 0;
		logf_("%s %d count=%u -> SUCCESS 0", fn, (int)(device - devs), have);
		return NVML_SUCCESS;
	}
	if (!infos || have < need) {
		*infoCount = need;
		logf_("%s %d count=%u -> INSUFFICIENT_SIZE need=%u", fn, (int)(device - devs), have, need);
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	for (unsigned int i = 0; i < need; i++) {
		struct proc *p = &device->procs[i];
		char *e = (char *)infos + i * stride;
		unsigned int noInstance = 0xFFFFFFFFu;
		unsigned long long cc = 0;
		memset(e, 0, stride);
		memcpy(e, &p->pid, 4);
		memcpy(e + 8, &p->mem, 8);
		if (stride >= 24) {
			memcpy(e + 16, &noInstance, 4);
			memcpy(e + 20, &noInstance, 4);
		}
		if (stride >= 32)
			memcpy(e + 24, &cc, 8);
	}
	*infoCount = need;
	logf_("%s %d count=%u -> SUCCESS %u", fn, (int)(device - devs), have, need);
	return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_v2_t *infos)
{
	return procs("_v2", device, infoCount, infos, sizeof(nvmlProcessInfo_v2_t));
}

#ifndef FAKE_V3_STRIDE
#define FAKE_V3_STRIDE 24
#endif

#ifndef FAKE_NO_V3
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *infoCount, void *infos)
{
	return procs("_v3", device, infoCount, infos, FAKE_V3_STRIDE);
}

typedef struct {
	unsigned long long totalMemory, allocatedMemory;
} nvmlConfComputeMemSizeInfo_t;

nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t device, nvmlConfComputeMemSizeInfo_t *m)
{
	if (!valid(device) || !m)
		return NVML_ERROR_INVALID_ARGUMENT;
	m->totalMemory = m->allocatedMemory = 0;
	return NVML_SUCCESS;
}

#if FAKE_V3_STRIDE == 24
/* Present from 550 on; only its presence matters to callers here. */
nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t device, void *plist)
{
	(void)device;
	(void)plist;
	return 3; /* NVML_ERROR_NOT_SUPPORTED */
}
#endif
#endif

/* Samples per pid: an older one (5 s ago, smUtil 1) that callers must not
 * prefer, the newest one, and for pid 424242 a stale one (60 s ago) that a
 * correct lastSeenTimeStamp filters out. */
nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t *utilization,
					     unsigned int *processSamplesCount, unsigned long long lastSeenTimeStamp)
{
	if (!inits)
		return NVML_ERROR_UNINITIALIZED;
	if (!valid(device) || !processSamplesCount)
		return NVML_ERROR_INVALID_ARGUMENT;
	static nvmlProcessUtilizationSample_t s[2 * MAX_PROCS + 1];
	unsigned long long now = now_us();
	unsigned int n = 0;
	nvmlProcessUtilizationSample_t stale = {424242, now - 60000000ULL, 77, 7, 0, 0};
	if (stale.timeStamp > lastSeenTimeStamp)
		s[n++] = stale;
	for (int i = 0; i < device->nprocs; i++) {
		struct proc *p = &device->procs[i];
		if (p->sm < 0)
			continue;
		nvmlProcessUtilizationSample_t old = {p->pid, now - 5000000ULL, 1, 1, 0, 0};
		nvmlProcessUtilizationSample_t cur = {p->pid, now, (unsigned)p->sm, (unsigned)p->memutil, 0, 0};
		if (old.timeStamp > lastSeenTimeStamp)
			s[n++] = old;
		s[n++] = cur;
	}
	unsigned int have = *processSamplesCount;
	logf_("nvmlDeviceGetProcessUtilization %d count=%u lastSeen=%llu (now-%llds) samples=%u%s", (int)(device - devs),
	      have, lastSeenTimeStamp, (long long)(now - lastSeenTimeStamp) / 1000000, n, utilization ? "" : " buf=NULL");
	if (n == 0) {
		*processSamplesCount = 0;
		return NVML_ERROR_NOT_FOUND;
	}
	if (utilization && utilGrow > 0 && have >= n) {
		*processSamplesCount = n + utilGrow;
		utilGrow = 0;
		logf_("nvmlDeviceGetProcessUtilization -> INSUFFICIENT_SIZE need=%u (grown)", *processSamplesCount);
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	if (!utilization || have < n) {
		*processSamplesCount = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	memcpy(utilization, s, n * sizeof s[0]);
	*processSamplesCount = n;
	return NVML_SUCCESS;
}
