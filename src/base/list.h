/*
 * An intrusive doubly linked list (a sentinel node, as in the Linux kernel's
 * list.h). Nodes are embedded in their owners; the list owns nothing.
 */
#ifndef PD_BASE_LIST_H
#define PD_BASE_LIST_H

#include <stddef.h>

typedef struct pd_list {
    struct pd_list *prev, *next;
} pd_list_t;

#define pd_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void pd_list_init(pd_list_t *l)
{
    l->prev = l->next = l;
}

static inline int pd_list_empty(const pd_list_t *l)
{
    return l->next == l;
}

/* A node that is not on a list points to itself (after init or remove). */
static inline int pd_list_linked(const pd_list_t *n)
{
    return n->next != n;
}

static inline void pd_list_insert_after(pd_list_t *at, pd_list_t *n)
{
    n->prev = at;
    n->next = at->next;
    at->next->prev = n;
    at->next = n;
}

static inline void pd_list_push_front(pd_list_t *l, pd_list_t *n)
{
    pd_list_insert_after(l, n);
}

static inline void pd_list_push_back(pd_list_t *l, pd_list_t *n)
{
    pd_list_insert_after(l->prev, n);
}

static inline void pd_list_remove(pd_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define pd_list_foreach(it, l) for (pd_list_t *it = (l)->next; it != (l); it = it->next)
/* Safe against removal of the current node. */
#define pd_list_foreach_safe(it, tmp, l) \
    for (pd_list_t *it = (l)->next, *tmp = it->next; it != (l); it = tmp, tmp = it->next)

#endif
