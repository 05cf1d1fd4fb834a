#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define BLOCK_SIZE 4096

struct arena_block {
	struct arena_block *next;
	union arena_align data[];
};

void
arena_init(struct arena *a)
{
	a->cur = (unsigned char *)a->first;
	a->used = 0;
	a->size = sizeof(a->first);
	a->blocks = NULL;
}

/* A fresh block for at least n bytes: the rest of the old one is left. */
static int
grow(struct arena *a, size_t n)
{
	size_t size = n > BLOCK_SIZE ? n : BLOCK_SIZE;
	struct arena_block *b;

	if (n > (size_t)-1 - sizeof(*b))
		return -1;
	b = malloc(sizeof(*b) + size);
	if (b == NULL)
		return -1;
	b->next = a->blocks;
	a->blocks = b;
	a->cur = (unsigned char *)b->data;
	a->used = 0;
	a->size = size;
	return 0;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	const size_t align = sizeof(union arena_align);
	void *p;

	n = n == 0 ? align : n;
	if (n > (size_t)-1 - align)
		return NULL;
	n = (n + align - 1) / align * align;
	if (a->size - a->used < n && grow(a, n) == -1)
		return NULL;
	p = a->cur + a->used;
	a->used += n;
	return memset(p, 0, n);
}

char *
arena_strdup(struct arena *a, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = arena_alloc(a, len);

	return p != NULL ? memcpy(p, s, len) : NULL;
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0 || (s = arena_alloc(a, (size_t)len + 1)) == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	va_end(ap);
	return s;
}

void
arena_free(struct arena *a)
{
	struct arena_block *b, *next;

	for (b = a->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	arena_init(a);
}
