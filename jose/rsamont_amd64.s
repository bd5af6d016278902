//go:build !keyward_nobigmod && !purego

#include "textflag.h"

// Each row adds x[0:k]·y to z[0:k] and leaves the carry limb in BX. Blocks
// of eight limbs, then one of four if four are left, run two carry chains at
// once: ADCX adds the previous limb's high product (CF), ADOX adds z (OF),
// and both end in BX; the last k mod 4 limbs take one limb per iteration.

// func addMulVVWadx(z *uint64, x *uint64, n int, y uint64) (c uint64)
TEXT ·addMulVVWadx(SB), NOSPLIT, $0-40
	MOVQ z+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ y+24(FP), DX
	XORQ BX, BX
	CMPQ CX, $8
	JB   amtail4

amloop8:
	XORQ AX, AX // AX = 0, CF = OF = 0
	MULXQ 0(SI), R8, R9
	ADCXQ BX, R8
	ADOXQ 0(DI), R8
	MOVQ  R8, 0(DI)
	MULXQ 8(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 8(DI), R8
	MOVQ  R8, 8(DI)
	MULXQ 16(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 16(DI), R8
	MOVQ  R8, 16(DI)
	MULXQ 24(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 24(DI), R8
	MOVQ  R8, 24(DI)
	MULXQ 32(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 32(DI), R8
	MOVQ  R8, 32(DI)
	MULXQ 40(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 40(DI), R8
	MOVQ  R8, 40(DI)
	MULXQ 48(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 48(DI), R8
	MOVQ  R8, 48(DI)
	MULXQ 56(SI), R8, BX
	ADCXQ R9, R8
	ADOXQ 56(DI), R8
	MOVQ  R8, 56(DI)
	ADCXQ AX, BX
	ADOXQ AX, BX
	ADDQ  $64, SI
	ADDQ  $64, DI
	SUBQ  $8, CX
	CMPQ  CX, $8
	JAE   amloop8

amtail4:
	CMPQ  CX, $4
	JB    amtail
	XORQ  AX, AX
	MULXQ 0(SI), R8, R9
	ADCXQ BX, R8
	ADOXQ 0(DI), R8
	MOVQ  R8, 0(DI)
	MULXQ 8(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 8(DI), R8
	MOVQ  R8, 8(DI)
	MULXQ 16(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 16(DI), R8
	MOVQ  R8, 16(DI)
	MULXQ 24(SI), R8, BX
	ADCXQ R9, R8
	ADOXQ 24(DI), R8
	MOVQ  R8, 24(DI)
	ADCXQ AX, BX
	ADOXQ AX, BX
	ADDQ  $32, SI
	ADDQ  $32, DI
	SUBQ  $4, CX

amtail:
	TESTQ CX, CX
	JZ    amdone

amtail1:
	MULXQ 0(SI), R8, R9
	ADDQ  BX, R8
	ADCQ  $0, R9
	ADDQ  0(DI), R8
	ADCQ  $0, R9
	MOVQ  R8, 0(DI)
	MOVQ  R9, BX
	ADDQ  $8, SI
	ADDQ  $8, DI
	DECQ  CX
	JNZ   amtail1

amdone:
	MOVQ BX, c+32(FP)
	RET

// func sqrTriangleADX(t *uint64, a *uint64, n int)
//
// For i in [0, n-1): t[2i+1 : i+n] += a[i+1:n]·a[i], and t[i+n] = carry.
// t[0:n] must be zero; n >= 2.
TEXT ·sqrTriangleADX(SB), NOSPLIT, $0-24
	MOVQ t+0(FP), R11
	ADDQ $8, R11        // row 0 starts at t[1]
	MOVQ a+8(FP), R12
	MOVQ n+16(FP), R13
	DECQ R13            // row 0 is n-1 limbs long

sqrrow:
	MOVQ (R12), DX
	LEAQ 8(R12), SI
	MOVQ R11, DI
	MOVQ R13, CX
	XORQ BX, BX
	CMPQ CX, $8
	JB   sqtail4

sqloop8:
	XORQ AX, AX // AX = 0, CF = OF = 0
	MULXQ 0(SI), R8, R9
	ADCXQ BX, R8
	ADOXQ 0(DI), R8
	MOVQ  R8, 0(DI)
	MULXQ 8(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 8(DI), R8
	MOVQ  R8, 8(DI)
	MULXQ 16(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 16(DI), R8
	MOVQ  R8, 16(DI)
	MULXQ 24(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 24(DI), R8
	MOVQ  R8, 24(DI)
	MULXQ 32(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 32(DI), R8
	MOVQ  R8, 32(DI)
	MULXQ 40(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 40(DI), R8
	MOVQ  R8, 40(DI)
	MULXQ 48(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 48(DI), R8
	MOVQ  R8, 48(DI)
	MULXQ 56(SI), R8, BX
	ADCXQ R9, R8
	ADOXQ 56(DI), R8
	MOVQ  R8, 56(DI)
	ADCXQ AX, BX
	ADOXQ AX, BX
	ADDQ  $64, SI
	ADDQ  $64, DI
	SUBQ  $8, CX
	CMPQ  CX, $8
	JAE   sqloop8

sqtail4:
	CMPQ  CX, $4
	JB    sqtail
	XORQ  AX, AX
	MULXQ 0(SI), R8, R9
	ADCXQ BX, R8
	ADOXQ 0(DI), R8
	MOVQ  R8, 0(DI)
	MULXQ 8(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 8(DI), R8
	MOVQ  R8, 8(DI)
	MULXQ 16(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 16(DI), R8
	MOVQ  R8, 16(DI)
	MULXQ 24(SI), R8, BX
	ADCXQ R9, R8
	ADOXQ 24(DI), R8
	MOVQ  R8, 24(DI)
	ADCXQ AX, BX
	ADOXQ AX, BX
	ADDQ  $32, SI
	ADDQ  $32, DI
	SUBQ  $4, CX

sqtail:
	TESTQ CX, CX
	JZ    sqdone

sqtail1:
	MULXQ 0(SI), R8, R9
	ADDQ  BX, R8
	ADCQ  $0, R9
	ADDQ  0(DI), R8
	ADCQ  $0, R9
	MOVQ  R8, 0(DI)
	MOVQ  R9, BX
	ADDQ  $8, SI
	ADDQ  $8, DI
	DECQ  CX
	JNZ   sqtail1

sqdone:
	MOVQ BX, (DI)
	ADDQ $16, R11
	ADDQ $8, R12
	DECQ R13
	JNZ  sqrrow
	RET

// func montReduceADX(t *uint64, m *uint64, n int, m0inv uint64) (c uint64)
//
// For i in [0, n): t[i:] += m·(t[i]·m0inv mod 2^64)·2^(64i), over the 2n
// limbs of t; returns the carry out of t[2n-1] (0 or 1).
TEXT ·montReduceADX(SB), NOSPLIT, $0-40
	MOVQ t+0(FP), R12
	MOVQ n+16(FP), R13
	XORQ R11, R11       // carry into t[i+n]

redrow:
	MOVQ  (R12), DX
	IMULQ m0inv+24(FP), DX
	MOVQ  m+8(FP), SI
	MOVQ  n+16(FP), CX
	MOVQ  R12, DI
	XORQ BX, BX
	CMPQ CX, $8
	JB   rdtail4

rdloop8:
	XORQ AX, AX // AX = 0, CF = OF = 0
	MULXQ 0(SI), R8, R9
	ADCXQ BX, R8
	ADOXQ 0(DI), R8
	MOVQ  R8, 0(DI)
	MULXQ 8(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 8(DI), R8
	MOVQ  R8, 8(DI)
	MULXQ 16(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 16(DI), R8
	MOVQ  R8, 16(DI)
	MULXQ 24(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 24(DI), R8
	MOVQ  R8, 24(DI)
	MULXQ 32(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 32(DI), R8
	MOVQ  R8, 32(DI)
	MULXQ 40(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 40(DI), R8
	MOVQ  R8, 40(DI)
	MULXQ 48(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 48(DI), R8
	MOVQ  R8, 48(DI)
	MULXQ 56(SI), R8, BX
	ADCXQ R9, R8
	ADOXQ 56(DI), R8
	MOVQ  R8, 56(DI)
	ADCXQ AX, BX
	ADOXQ AX, BX
	ADDQ  $64, SI
	ADDQ  $64, DI
	SUBQ  $8, CX
	CMPQ  CX, $8
	JAE   rdloop8

rdtail4:
	CMPQ  CX, $4
	JB    rdtail
	XORQ  AX, AX
	MULXQ 0(SI), R8, R9
	ADCXQ BX, R8
	ADOXQ 0(DI), R8
	MOVQ  R8, 0(DI)
	MULXQ 8(SI), R8, R10
	ADCXQ R9, R8
	ADOXQ 8(DI), R8
	MOVQ  R8, 8(DI)
	MULXQ 16(SI), R8, R9
	ADCXQ R10, R8
	ADOXQ 16(DI), R8
	MOVQ  R8, 16(DI)
	MULXQ 24(SI), R8, BX
	ADCXQ R9, R8
	ADOXQ 24(DI), R8
	MOVQ  R8, 24(DI)
	ADCXQ AX, BX
	ADOXQ AX, BX
	ADDQ  $32, SI
	ADDQ  $32, DI
	SUBQ  $4, CX

rdtail:
	TESTQ CX, CX
	JZ    rddone

rdtail1:
	MULXQ 0(SI), R8, R9
	ADDQ  BX, R8
	ADCQ  $0, R9
	ADDQ  0(DI), R8
	ADCQ  $0, R9
	MOVQ  R8, 0(DI)
	MOVQ  R9, BX
	ADDQ  $8, SI
	ADDQ  $8, DI
	DECQ  CX
	JNZ   rdtail1

rddone:
	// DI is at t[i+n]: add the row's carry limb and the previous carry bit.
	MOVQ (DI), R8
	ADDQ BX, R8
	MOVQ $0, R9
	ADCQ $0, R9
	ADDQ R11, R8
	ADCQ $0, R9
	MOVQ R8, (DI)
	MOVQ R9, R11
	ADDQ $8, R12
	DECQ R13
	JNZ  redrow
	MOVQ R11, c+32(FP)
	RET
