; VMLAUNCH/VMRESUME with guest GPR save/restore, root-mode exception stubs, fault-tolerant MSR access.
; VMX root (and the launching CPU's firmware context). Policy lives in C; this file only moves state.
;
; Layouts shared with C are checked there with _Static_assert (vmm/vcpu.h struct guest_regs,
; vmm/host.c struct exc_frame and struct unwind_ctx); keep the numbers below in step with them.

bits 64
default rel
section .text

extern vmx_exit_handler         ; void vmx_exit_handler(struct guest_regs *, struct vcpu *)
extern vmx_resume_failed        ; noreturn void vmx_resume_failed(struct vcpu *)
extern host_exception           ; void host_exception(struct exc_frame *)

GUEST_REGS_SIZE equ 16 * 8

; int vmx_launch(uint64_t guest_rsp_field, uint64_t guest_rip_field)
; Enters the guest so that it resumes right here, returning 0 as the guest. Returns 1 (VMfailInvalid)
; or 2 (VMfailValid) in the host when VMLAUNCH fails; 3 comes back through vmx_launch_unwind when
; the entry itself failed.
global vmx_launch
vmx_launch:
	push rbx
	push rbp
	push r12
	push r13
	push r14
	push r15
	vmwrite rdi, rsp
	lea rax, [.guest_resumes_here]
	vmwrite rsi, rax
	vmlaunch
	; Still here: VMLAUNCH failed. CF=1: VMfailInvalid, ZF=1: VMfailValid.
	mov eax, 1
	jc .out
	mov eax, 2
.out:
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbp
	pop rbx
	ret
.guest_resumes_here:
	xor eax, eax
	jmp .out

; void vmx_launch_unwind(struct unwind_ctx *ctx)   -- noreturn
; After a failed VM entry on launch: back into the firmware's context (GDT, IDT, CR3, segments,
; stack at the VMLAUNCH point) and return 3 from vmx_launch. VMX is already off.
UW_GDTR   equ 0     ; 10 bytes: limit, base
UW_IDTR   equ 16
UW_CR3    equ 32
UW_RSP    equ 40
UW_RFLAGS equ 48
UW_FSBASE equ 56
UW_GSBASE equ 64
UW_CS     equ 72
UW_SS     equ 74
UW_DS     equ 76
UW_ES     equ 78
UW_FS     equ 80
UW_GS     equ 82
MSR_FS_BASE equ 0xC0000100   ; SDM Vol. 4 table 2-2
MSR_GS_BASE equ 0xC0000101
global vmx_launch_unwind
vmx_launch_unwind:
	mov rbx, rdi
	lgdt [rbx + UW_GDTR]
	lidt [rbx + UW_IDTR]
	mov rax, [rbx + UW_CR3]
	mov cr3, rax
	mov ax, [rbx + UW_SS]
	mov ss, ax
	mov rsp, [rbx + UW_RSP]
	mov ax, [rbx + UW_DS]
	mov ds, ax
	mov ax, [rbx + UW_ES]
	mov es, ax
	mov ax, [rbx + UW_FS]
	mov fs, ax
	mov ax, [rbx + UW_GS]
	mov gs, ax
	mov ecx, MSR_FS_BASE
	mov eax, [rbx + UW_FSBASE]
	mov edx, [rbx + UW_FSBASE + 4]
	wrmsr
	mov ecx, MSR_GS_BASE
	mov eax, [rbx + UW_GSBASE]
	mov edx, [rbx + UW_GSBASE + 4]
	wrmsr
	movzx eax, word [rbx + UW_CS]
	push rax
	lea rax, [.reloaded_cs]
	push rax
	o64 retf
.reloaded_cs:
	push qword [rbx + UW_RFLAGS]
	popfq
	mov eax, 3
	jmp vmx_launch.out

; struct vcpu fields and VMCS encodings the CPUID path uses (vmm/exit.c asserts the offsets).
V_CPUID_FAST_MASK equ 8          ; uint32_t: leaves answered here, 0 while work is pending
V_CPUID_CACHE     equ 16         ; struct cpuid_regs[CPUID_FAST_LEAVES], 16 bytes each
CPUID_FAST_LEAVES equ 32
V_EXITS           equ V_CPUID_CACHE + 16 * CPUID_FAST_LEAVES ; uint64_t[] by basic exit reason
EXIT_REASON_CPUID equ 10
VMCS_EXIT_REASON            equ 0x4402
VMCS_EXIT_INSTR_LEN         equ 0x440C
VMCS_GUEST_INTERRUPTIBILITY equ 0x4824
VMCS_GUEST_RIP              equ 0x681E
VMCS_GUEST_RFLAGS           equ 0x6820
VMCS_GUEST_PENDING_DBG      equ 0x6822
RFLAGS_TF                   equ 0x100

; HOST_RIP: every VM exit lands here with RSP = HOST_RSP, where the vcpu pointer is stored.
;
; First the CPUID fast path (docs/architecture.md): a CPUID of a leaf the vCPU caches, when its
; cpuid_fast_mask allows it, completes here; everything else falls through to the full save and C.
; It does what the C path does for that exit: the cached (shaped) answer, RIP past the
; instruction, STI/MOV-SS blocking dropped, a single-step trap kept pending for a TF guest, and
; the exit counted. Guest RBX/RCX/RDX are CPUID outputs, so they serve as scratch once the exit is
; known to complete here; RSI/RDI are saved. Its VMREADs and VMWRITEs name fields of the current
; VMCS that every VM exit provides, which cannot fail (SDM Vol. 3C 31.3 VMREAD/VMWRITE).
global vmx_exit_entry
vmx_exit_entry:
	push rsi
	push rdi
	mov rsi, [rsp + 16]
	mov edi, VMCS_EXIT_REASON
	vmread rdi, rdi
	cmp edi, EXIT_REASON_CPUID
	jne .full
	cmp eax, CPUID_FAST_LEAVES
	jae .full
	bt dword [rsi + V_CPUID_FAST_MASK], eax
	jnc .full
	mov edi, VMCS_GUEST_RIP
	vmread rdx, rdi
	mov ecx, VMCS_EXIT_INSTR_LEN
	vmread rcx, rcx
	lea rbx, [rdx + rcx]
	add edx, ecx                    ; CF: the advance crosses a 4 GiB line (wrap rules in C)
	jc .full                        ; RBX/RCX/RDX lost: outputs only, for an ECX-independent leaf
	vmwrite rdi, rbx
	mov edi, VMCS_GUEST_INTERRUPTIBILITY
	vmread rdx, rdi
	test dl, 3                      ; blocking by STI or MOV SS ends with the instruction
	jnz .cpuid_unblock
.cpuid_unblocked:
	mov edi, VMCS_GUEST_RFLAGS
	vmread rdx, rdi
	test edx, RFLAGS_TF
	jnz .cpuid_single_step
.cpuid_stepped:
	inc qword [rsi + V_EXITS + EXIT_REASON_CPUID * 8]
	shl eax, 4
	mov ebx, [rsi + rax + V_CPUID_CACHE + 4]
	mov ecx, [rsi + rax + V_CPUID_CACHE + 8]
	mov edx, [rsi + rax + V_CPUID_CACHE + 12]
	mov eax, [rsi + rax + V_CPUID_CACHE]
	pop rdi
	pop rsi
	vmresume
	jmp .resume_failed
.cpuid_unblock:
	and edx, ~3
	vmwrite rdi, rdx
	jmp .cpuid_unblocked
.cpuid_single_step:
	mov edi, VMCS_GUEST_PENDING_DBG
	vmread rdx, rdi
	bts edx, 14                     ; BS: single-step trap pending (SDM 24.4.2)
	vmwrite rdi, rdx
	jmp .cpuid_stepped

.full:
	pop rdi
	pop rsi
	push r15
	push r14
	push r13
	push r12
	push r11
	push r10
	push r9
	push r8
	push rdi
	push rsi
	push rbp
	push rbp                ; RSP slot (unused: the guest RSP is in the VMCS)
	push rbx
	push rdx
	push rcx
	push rax
	mov rdi, rsp
	mov rsi, [rsp + GUEST_REGS_SIZE]
	call vmx_exit_handler
	pop rax
	pop rcx
	pop rdx
	pop rbx
	add rsp, 8
	pop rbp
	pop rsi
	pop rdi
	pop r8
	pop r9
	pop r10
	pop r11
	pop r12
	pop r13
	pop r14
	pop r15
	vmresume
	; VMRESUME failed (VMfail, not a failed entry): report and park this CPU.
.resume_failed:
	mov rdi, [rsp]
	and rsp, -16
	call vmx_resume_failed
.park:
	cli
	hlt
	jmp .park

; Root-mode exception stubs: push a dummy error code where the CPU pushes none, then the vector.
%macro EXC_NOERR 1
exc_stub_%1:
	push 0
	push %1
	jmp exc_common
%endmacro
%macro EXC_ERR 1
exc_stub_%1:
	push %1
	jmp exc_common
%endmacro

%assign v 0
%rep 32
%if v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21 || v == 29 || v == 30
	EXC_ERR v
%else
	EXC_NOERR v
%endif
%assign v v + 1
%endrep

exc_common:
	push rax
	push rcx
	push rdx
	push rbx
	push rbp
	push rsi
	push rdi
	push r8
	push r9
	push r10
	push r11
	push r12
	push r13
	push r14
	push r15
	mov rdi, rsp
	mov rbx, rsp
	and rsp, -16
	call host_exception
	mov rsp, rbx
	pop r15
	pop r14
	pop r13
	pop r12
	pop r11
	pop r10
	pop r9
	pop r8
	pop rdi
	pop rsi
	pop rbp
	pop rbx
	pop rdx
	pop rcx
	pop rax
	add rsp, 16
	iretq

section .data
global exc_stub_table
exc_stub_table:
%assign v 0
%rep 32
	dq exc_stub_ %+ v
%assign v v + 1
%endrep

section .text
; int safe_rdmsr(uint32_t msr, uint64_t *value): 0, or 1 when RDMSR faulted (#GP).
global safe_rdmsr
safe_rdmsr:
	mov ecx, edi
.insn:
	rdmsr
	shl rdx, 32
	or rax, rdx
	mov [rsi], rax
	xor eax, eax
	ret
.fault:
	mov eax, 1
	ret

; int safe_wrmsr(uint32_t msr, uint64_t value): 0, or 1 when WRMSR faulted (#GP).
global safe_wrmsr
safe_wrmsr:
	mov ecx, edi
	mov eax, esi
	mov rdx, rsi
	shr rdx, 32
.insn:
	wrmsr
	xor eax, eax
	ret
.fault:
	mov eax, 1
	ret

; int safe_xsetbv(uint32_t index, uint64_t value): 0, or 1 when XSETBV faulted (#GP).
global safe_xsetbv
safe_xsetbv:
	mov ecx, edi
	mov eax, esi
	mov rdx, rsi
	shr rdx, 32
.insn:
	xsetbv
	xor eax, eax
	ret
.fault:
	mov eax, 1
	ret

section .data
; Pairs (faulting instruction, resume point) that host_exception may use for #GP.
global safe_fixups
global safe_fixups_count
safe_fixups:
	dq safe_rdmsr.insn, safe_rdmsr.fault
	dq safe_wrmsr.insn, safe_wrmsr.fault
	dq safe_xsetbv.insn, safe_xsetbv.fault
safe_fixups_count:
	dq 3

section .note.GNU-stack noalloc noexec nowrite progbits
