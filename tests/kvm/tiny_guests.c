/* SPDX-License-Identifier: MIT */
/* tiny_guests: hand-assembled real-mode test guests for fast KVM tests. */
/*
 * Three flat images that start in real mode at KV_TINY_LOAD (cs = 0) and
 * end by writing 0x2a to the debug-exit port. They boot in milliseconds,
 * so the KVM suite can test exits, the console and the balloon transport
 * without a Linux guest. Parameters are words the host writes below the
 * image before it starts (KV_TINY_PARAMS):
 *
 * exits:   prints "OK\n" on the UART (3 port exits), stores a byte into
 *          each of `pages` 4 KiB pages from 0x20000 up (first touches: KVM
 *          page faults), then does `outs` writes to port 0x80 (an I/O exit
 *          each).
 *            +0 pages (word, at most 120)   +2 outs (word)
 * balloon: enables I/O decoding of PCI 00:01.0, acks no features, places
 *          the inflate and deflate queues at the frames the host gave,
 *          sets DRIVER_OK, kicks both queues (the host wrote their
 *          descriptors and available rings beforehand), reads ISR.
 *            +4 inflate ring pfn (dword)    +8 deflate ring pfn (dword)
 * writer:  `passes` passes over `pages` 4 KiB pages from 0x20000 up,
 *          incrementing the words at offsets 0 and 0x800 of each (read,
 *          add, write): pages that start at zero end holding `passes`
 *          there, and a write the host lost at any time leaves them short.
 *            +0 pages (word, at most 120)   +2 passes (word)
 * Each instruction is written beside its bytes (GNU as syntax).
 */
#include "vmm-core/kvm/kvm_internal.h"
#include "tests/kvm/tiny_guests.h"

static const uint8_t tiny_exits[] = {
    0x31, 0xc0,				/* xor   %ax,%ax */
    0x8e, 0xd8,				/* mov   %ax,%ds */
    0xba, 0xf8, 0x03,			/* mov   $0x3f8,%dx */
    0xb0, 0x4f,				/* mov   $'O',%al */
    0xee,				/* out   %al,(%dx) */
    0xb0, 0x4b,				/* mov   $'K',%al */
    0xee,				/* out   %al,(%dx) */
    0xb0, 0x0a,				/* mov   $'\n',%al */
    0xee,				/* out   %al,(%dx) */
    0x8b, 0x0e, 0xf0, 0x0f,		/* mov   0xff0,%cx        pages */
    0xb8, 0x00, 0x20,			/* mov   $0x2000,%ax      segment of 0x20000 */
    0xe3, 0x0e,				/* 1: jcxz 2f */
    0x8e, 0xc0,				/* mov   %ax,%es */
    0x26, 0xc6, 0x06, 0x00, 0x00, 0x01, /* movb $1,%es:0 */
    0x05, 0x00, 0x01,			/* add   $0x100,%ax       next 4 KiB */
    0x49,				/* dec   %cx */
    0xeb, 0xf0,				/* jmp   1b */
    0x8b, 0x0e, 0xf2, 0x0f,		/* 2: mov 0xff2,%cx      outs */
    0xe3, 0x05,				/* 3: jcxz 4f */
    0xe6, 0x80,				/* out   %al,$0x80 */
    0x49,				/* dec   %cx */
    0xeb, 0xf9,				/* jmp   3b */
    0xba, 0x10, 0x05,			/* 4: mov $0x510,%dx */
    0xb0, 0x2a,				/* mov   $0x2a,%al */
    0xee,				/* out   %al,(%dx) */
    0xf4,				/* 5: hlt */
    0xeb, 0xfd,				/* jmp   5b */
};

static const uint8_t tiny_balloon[] = {
    0x31, 0xc0,				/* xor   %ax,%ax */
    0x8e, 0xd8,				/* mov   %ax,%ds */
    0xba, 0xf8, 0x0c,			/* mov   $0xcf8,%dx */
    0x66, 0xb8, 0x04, 0x08, 0x00, 0x80, /* mov   $0x80000804,%eax  00:01.0 reg 4 */
    0x66, 0xef,				/* out   %eax,(%dx) */
    0xba, 0xfc, 0x0c,			/* mov   $0xcfc,%dx */
    0xb8, 0x01, 0x00,			/* mov   $1,%ax             command: I/O on */
    0xef,				/* out   %ax,(%dx) */
    0xba, 0x12, 0xc0,			/* mov   $0xc012,%dx        STATUS */
    0xb0, 0x03,				/* mov   $3,%al             ACK|DRIVER */
    0xee,				/* out   %al,(%dx) */
    0xba, 0x04, 0xc0,			/* mov   $0xc004,%dx        GUEST_FEATURES */
    0x66, 0x31, 0xc0,			/* xor   %eax,%eax */
    0x66, 0xef,				/* out   %eax,(%dx) */
    0xba, 0x0e, 0xc0,			/* mov   $0xc00e,%dx        QUEUE_SEL */
    0x31, 0xc0,				/* xor   %ax,%ax            inflate */
    0xef,				/* out   %ax,(%dx) */
    0xba, 0x08, 0xc0,			/* mov   $0xc008,%dx        QUEUE_PFN */
    0x66, 0xa1, 0xf4, 0x0f,		/* mov   0xff4,%eax */
    0x66, 0xef,				/* out   %eax,(%dx) */
    0xba, 0x0e, 0xc0,			/* mov   $0xc00e,%dx        QUEUE_SEL */
    0xb8, 0x01, 0x00,			/* mov   $1,%ax             deflate */
    0xef,				/* out   %ax,(%dx) */
    0xba, 0x08, 0xc0,			/* mov   $0xc008,%dx        QUEUE_PFN */
    0x66, 0xa1, 0xf8, 0x0f,		/* mov   0xff8,%eax */
    0x66, 0xef,				/* out   %eax,(%dx) */
    0xba, 0x12, 0xc0,			/* mov   $0xc012,%dx        STATUS */
    0xb0, 0x07,				/* mov   $7,%al             |DRIVER_OK */
    0xee,				/* out   %al,(%dx) */
    0xba, 0x10, 0xc0,			/* mov   $0xc010,%dx        QUEUE_NOTIFY */
    0x31, 0xc0,				/* xor   %ax,%ax */
    0xef,				/* out   %ax,(%dx)          kick inflate */
    0xb8, 0x01, 0x00,			/* mov   $1,%ax */
    0xef,				/* out   %ax,(%dx)          kick deflate */
    0xba, 0x13, 0xc0,			/* mov   $0xc013,%dx        ISR */
    0xec,				/* in    (%dx),%al */
    0xba, 0x10, 0x05,			/* mov   $0x510,%dx */
    0xb0, 0x2a,				/* mov   $0x2a,%al */
    0xee,				/* out   %al,(%dx) */
    0xf4,				/* 1: hlt */
    0xeb, 0xfd,				/* jmp   1b */
};

static const uint8_t tiny_writer[] = {
    0x31, 0xc0,			  /* xor   %ax,%ax */
    0x8e, 0xd8,			  /* mov   %ax,%ds */
    0xbb, 0x01, 0x00,		  /* mov   $1,%bx            pass */
    0x8b, 0x0e, 0xf0, 0x0f,	  /* 1: mov 0xff0,%cx      pages */
    0xb8, 0x00, 0x20,		  /* mov   $0x2000,%ax */
    0xe3, 0x12,			  /* 2: jcxz 3f */
    0x8e, 0xc0,			  /* mov   %ax,%es */
    0x26, 0xff, 0x06, 0x00, 0x00, /* incw %es:0 */
    0x26, 0xff, 0x06, 0x00, 0x08, /* incw %es:0x800 */
    0x05, 0x00, 0x01,		  /* add   $0x100,%ax       next 4 KiB */
    0x49,			  /* dec   %cx */
    0xeb, 0xec,			  /* jmp   2b */
    0x3b, 0x1e, 0xf2, 0x0f,	  /* 3: cmp 0xff2,%bx      passes */
    0x73, 0x03,			  /* jae   4f */
    0x43,			  /* inc   %bx */
    0xeb, 0xdc,			  /* jmp   1b */
    0xba, 0x10, 0x05,		  /* 4: mov $0x510,%dx */
    0xb0, 0x2a,			  /* mov   $0x2a,%al */
    0xee,			  /* out   %al,(%dx) */
    0xf4,			  /* 5: hlt */
    0xeb, 0xfd,			  /* jmp   5b */
};

const uint8_t *kv_tiny_image(enum kv_tiny which, size_t *len)
{
	switch (which) {
	case KV_TINY_EXITS:
		*len = sizeof(tiny_exits);
		return tiny_exits;
	case KV_TINY_BALLOON:
		*len = sizeof(tiny_balloon);
		return tiny_balloon;
	case KV_TINY_WRITER:
		*len = sizeof(tiny_writer);
		return tiny_writer;
	}
	*len = 0;
	return NULL;
}
