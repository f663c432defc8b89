; Exception entry stubs for vectors 0-31 and the catch/resume pair behind trap_catch (trap.c).
; UEFI boot services, CPL 0, 64-bit mode; any CPU. Policy lives in trap_dispatch (C).

bits 64
default rel

extern trap_dispatch

section .text

; Vectors for which the CPU pushes an error code (SDM Vol. 3A 6.13, Table 6-1).
%define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

; Every stub leaves the same frame: vector, error code (a dummy 0 where the CPU pushes none), then
; the CPU's RIP, CS, RFLAGS, RSP, SS. struct trap_frame in trap.c mirrors it.
%macro TRAP_STUB 1
trap_stub_%1:
%if !HAS_ERROR(%1)
	push 0
%endif
	push %1
	jmp trap_common
%endmacro

%assign v 0
%rep 32
TRAP_STUB v
%assign v v + 1
%endrep

; Saves the GPRs (RAX pushed first, R15 last), calls trap_dispatch(frame), restores and returns
; through whatever RIP/RSP/RFLAGS trap_dispatch left in the frame. The CPU aligned RSP to 16 before
; its 48-byte frame (error code included); 8 + 15 * 8 more keeps the call aligned.
trap_common:
	push rax
	push rbx
	push rcx
	push rdx
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
	cld
	call trap_dispatch wrt ..plt
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
	pop rdx
	pop rcx
	pop rbx
	pop rax
	add rsp, 16			; vector and error code
	iretq

; int trap_catch_asm(void (*fn)(void *), void *arg, uint64_t *saved_rsp)
; Calls fn(arg) and returns 0. On an exception, trap_dispatch sends the CPU to trap_resume with
; RSP = *saved_rsp and RAX = 1, which unwinds this frame as if fn had returned.
global trap_catch_asm
global trap_resume
trap_catch_asm:
	push rbx
	push rbp
	push r12
	push r13
	push r14
	push r15
	sub rsp, 8			; 6 pushes + return address: realign for the call
	mov [rdx], rsp
	mov rax, rdi
	mov rdi, rsi
	call rax
	xor eax, eax
trap_resume:
	add rsp, 8
	pop r15
	pop r14
	pop r13
	pop r12
	pop rbp
	pop rbx
	ret

; void ring3_enter(const struct ring3_frame *f) (ring3.c): loads RAX/RBX/RCX from f and IRETQs to
; f->rip at CPL 3 with f's CS, RFLAGS, RSP and SS. Never returns: the #UD that ends ring 3 goes
; through trap_dispatch back to the catch point.
global ring3_enter
ring3_enter:
	push qword [rdi + 32]		; SS
	push qword [rdi + 24]		; RSP
	push qword [rdi + 16]		; RFLAGS
	push qword [rdi + 8]		; CS
	push qword [rdi]		; RIP
	mov rax, [rdi + 40]
	mov rbx, [rdi + 48]
	mov rcx, [rdi + 56]
	iretq

; The code ring3_enter runs at CPL 3: the VMCALL, then what it left in RAX/RBX/RCX, then UD2 to
; get back to CPL 0.
global ring3_vmcall_insn
global ring3_ud2_insn
ring3_vmcall_insn:
	vmcall
	mov [rel ring3_out], rax
	mov [rel ring3_out + 8], rbx
	mov [rel ring3_out + 16], rcx
ring3_ud2_insn:
	ud2

section .data
global ring3_out
align 8
ring3_out:
	dq 0, 0, 0

; Stub addresses by vector, for the IDT (relocated at load like any pointer).
global trap_stub_table
align 8
trap_stub_table:
%assign v 0
%rep 32
	dq trap_stub_ %+ v
%assign v v + 1
%endrep

section .note.GNU-stack noalloc noexec nowrite progbits
