# bcryptprimitives.dll!ProcessPrng for Wine 8 (Debian 12), which lacks the
# DLL the Go runtime (1.22 and later) loads at start. ProcessPrng(data,
# len) fills data from advapi32!SystemFunction036 (RtlGenRandom) and
# returns TRUE. Test use only: the wine test builds it with binutils.
	.text
	.globl ProcessPrng
ProcessPrng:
	subq $40, %rsp                      # shadow space, 16-byte alignment
	call *__imp_SystemFunction036(%rip) # RtlGenRandom(data, (ULONG)len)
	movzbl %al, %eax                    # BOOLEAN -> BOOL
	addq $40, %rsp
	ret
