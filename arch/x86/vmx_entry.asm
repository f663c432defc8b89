; VMLAUNCH/VMRESUME with guest GPR save/restore, root-mode exception stubs, fault-tolerant MSR access.
; VMX root (and the launching CPU's firmware context). Policy lives in C; this file only moves state.
;
; Layouts shared with C are checked there with _Static_assert (vmm/vcpu.h struct guest_regs,
; vmm/host.c struct exc_frame and struct unwind_ctx); keep the numbers below in step with them.

bits 64
default rel
section .text

extern vmx_exit_handler         ; void vmx_exit_handler(struct guest_regs *, struct vcpu *)
extern vmx_exit_fast            ; int vmx_exit_fast(struct vcpu *, struct guest_regs *, uint32_t reason)
extern vmx_exit_complete_wrapped ; void vmx_exit_complete_wrapped(void)
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
EXIT_FAST_SLOW    equ 1          ; vmx_exit_fast results (vmm/exit.h): 0 done, 1 slow, 2 event queued
VMCS_EXIT_REASON            equ 0x4402
VMCS_EXIT_INSTR_LEN         equ 0x440C
VMCS_GUEST_INTERRUPTIBILITY equ 0x4824
VMCS_GUEST_RIP              equ 0x681E
VMCS_GUEST_RFLAGS           equ 0x6820
VMCS_GUEST_PENDING_DBG      equ 0x6822
RFLAGS_TF                   equ 0x100

; Completes an instruction the exit path emulated, as vmm/rip.h vcpu_complete_instruction does:
; RIP past it (jumps to %2 when the advance carries across a 4 GiB line, where the guest's mode
; decides the wrap: nothing is written then), blocking by STI and MOV SS dropped, a TF guest's
; single-step trap kept pending (BS, SDM 24.4.2). Uses RDI, RDX, RCX and %1. Its VMREADs and
; VMWRITEs name fields of the current VMCS that every VM exit provides: they cannot fail (SDM
; Vol. 3C 31.3 VMREAD/VMWRITE), so they are not checked.
%macro COMPLETE_INSN 2
	mov edi, VMCS_GUEST_RIP
	vmread rdx, rdi
	mov ecx, VMCS_EXIT_INSTR_LEN
	vmread rcx, rcx
	lea %1, [rdx + rcx]
	add edx, ecx
	jc %2
	vmwrite rdi, %1
	mov edi, VMCS_GUEST_INTERRUPTIBILITY
	vmread rdx, rdi
	test dl, 3
	jz %%unblocked
	and edx, ~3
	vmwrite rdi, rdx
%%unblocked:
	mov edi, VMCS_GUEST_RFLAGS
	vmread rdx, rdi
	test edx, RFLAGS_TF
	jz %%stepped
	mov edi, VMCS_GUEST_PENDING_DBG
	vmread rdx, rdi
	bts edx, 14
	vmwrite rdi, rdx
%%stepped:
%endmacro

; The C fast path's frame, back into the registers (RSI and RDI were saved first, by the entry).
%macro POP_FAST_FRAME 0
	pop rax
	pop rcx
	pop rdx
	pop rbx
	pop r8
	pop r9
	pop r10
	pop r11
	pop rdi
	pop rsi
%endmacro

; HOST_RIP: every VM exit lands here with RSP = HOST_RSP, where the vcpu pointer is stored. Three
; paths (docs/architecture.md, "The exit path"); the decision between them is made in C (vcpu.fast,
; and cpuid_fast_mask, which is 0 whenever fast is).
;
; 1. CPUID of a leaf the vCPU caches, allowed by cpuid_fast_mask: answered here. Guest RBX/RCX/RDX
;    are CPUID outputs, so they serve as scratch once the exit is known to complete here.
global vmx_exit_entry
vmx_exit_entry:
	push rsi
	push rdi
	mov rsi, [rsp + 16]
	mov edi, VMCS_EXIT_REASON
	vmread rdi, rdi
	cmp edi, EXIT_REASON_CPUID
	jne .c_fast
	cmp eax, CPUID_FAST_LEAVES
	jae .c_fast
	bt dword [rsi + V_CPUID_FAST_MASK], eax
	jnc .c_fast
	COMPLETE_INSN rbx, .cpuid_wraps ; RBX/RCX/RDX lost on the jump: outputs of an ECX-independent leaf
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
.cpuid_wraps:
	mov edi, EXIT_REASON_CPUID      ; the reason again, for the C path

; 2. The C fast path (vmm/exit.c vmx_exit_fast): RSI and RDI are saved already; the registers C
;    may clobber, and RBX, go below them, so that the frame starts like struct guest_regs (RAX,
;    RCX, RDX, RBX: the only registers the fast path reads or writes). RSI holds the vcpu, EDI the
;    exit reason, which RBX keeps across the call (C preserves it; the guest's is in the frame).
;    vmx_exit_fast(vcpu, frame, reason): EXIT_FAST_DONE (0), the instruction's effect is done and
;    it is completed here; EXIT_FAST_EVENT (2), an exception was queued, RIP stays; EXIT_FAST_SLOW
;    (1): the full path.
.c_fast:
	push r11
	push r10
	push r9
	push r8
	push rbx
	push rdx
	push rcx
	push rax
	mov ebx, edi
	mov edx, edi
	mov rdi, rsi
	mov rsi, rsp
	call vmx_exit_fast
	test eax, eax
	jnz .c_not_done
	COMPLETE_INSN rax, .c_wraps
.c_count:
	mov rsi, [rsp + 80]             ; the vcpu pointer at HOST_RSP
	inc qword [rsi + V_EXITS + rbx * 8]
	POP_FAST_FRAME
	vmresume
	jmp .resume_failed
.c_wraps:
	call vmx_exit_complete_wrapped  ; RSP is 16-byte aligned here, as at the call above
	jmp .c_count
.c_not_done:
	cmp eax, EXIT_FAST_SLOW
	jne .c_count                    ; EXIT_FAST_EVENT: an exception reflected, RIP stays

; 3. Everything else: the full save, in struct guest_regs order, and the dispatcher.
.full:
	POP_FAST_FRAME
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
