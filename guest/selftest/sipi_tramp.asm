; The real-mode start code of the x2APIC INIT-SIPI cases (x2apic.c): copied to the start of a page
; below 1 MiB whose number is the SIPI vector, where an AP begins at CS = vector << 8, IP = 0 (SDM
; Vol. 3A 9.4.4). It records, in the slot of its initial APIC ID, that it ran, the CS it started
; with and what CPUID 0x40000000 answers there, then halts with interrupts off until the next INIT.
; The slot layout is struct sipi_slot in x2apic.c.

bits 64
default rel

section .rodata

global sipi_tramp_start, sipi_tramp_end

%define SLOTS 0x200 ; offset of the slot array in the page (SIPI_SLOTS in x2apic.c)
%define MAX_ID 223  ; the last APIC ID with a slot in the page (SIPI_MAX_ID in x2apic.c)

sipi_tramp_start:
bits 16
	cli
	mov ax, cs
	mov ds, ax
	mov eax, 1
	cpuid
	shr ebx, 24              ; CPUID.1:EBX[31:24], the initial APIC ID
	cmp bx, MAX_ID
	ja .park                 ; no slot for it in this page: the BSP sees no start
	shl bx, 4                ; 16-byte slots
	mov si, bx
	mov ax, cs
	mov [si + SLOTS + 4], ax ; the CS this start ran with
	mov eax, 0x40000000
	cpuid
	mov [si + SLOTS + 8], ebx ; the hypervisor signature's first word, or the CPU's own answer
	lock inc dword [si + SLOTS]
.park:
	hlt
	jmp .park
sipi_tramp_end:
section .note.GNU-stack noalloc noexec nowrite progbits
