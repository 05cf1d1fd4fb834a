/* arena: allocations that live as long as their owner and are freed whole
 * with it; the first KiB sits inside the owner, more comes from malloc. */
#ifndef ARENA_H
#define ARENA_H

#include <stddef.h>

#define ARENA_INLINE 1024

union arena_align {
	long double ld;
	long long ll;
	void *p;
	void (*fn)(void);
};

struct arena_block;

/* Not to be copied or moved once arena_init has run: it points into
 * itself. */
struct arena {
	unsigned char *cur; /* the block being filled */
	size_t used, size;
	struct arena_block *blocks; /* from malloc, newest first */
	union arena_align first[ARENA_INLINE / sizeof(union arena_align)];
};

void arena_init(struct arena *a);
/* n bytes, zeroed and aligned for any type; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void arena_free(struct arena *a);

#endif
