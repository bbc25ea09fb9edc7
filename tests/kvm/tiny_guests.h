/* SPDX-License-Identifier: MIT */
/* tiny_guests: the hand-assembled real-mode test guests (tiny_guests.c)
 * of the KVM suite; test code, not part of the product library. */
#ifndef TESTS_KVM_TINY_GUESTS_H
#define TESTS_KVM_TINY_GUESTS_H

#include <stddef.h>
#include <stdint.h>

#define KV_TINY_LOAD	  0x1000u /* where the images are loaded and entered */
#define KV_TINY_PARAMS	  0x0ff0u /* their parameter words */
#define KV_TINY_DONE	  0x2a	  /* the debug-exit value of a clean end */
#define KV_TINY_MAX_PAGES 120u	  /* exits: pages from 0x20000 below 640 KiB */

enum kv_tiny { KV_TINY_EXITS, KV_TINY_BALLOON, KV_TINY_WRITER };

/* The image and its length; static storage. */
const uint8_t *kv_tiny_image(enum kv_tiny which, size_t *len);

#endif
