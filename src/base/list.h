/*
 * list.h - the one intrusive doubly linked list of hakmem: a heap's
 * partial and full slabs, a segment pool's segments with free slabs, the
 * Large segments.  The node is embedded in the listed object; the list
 * keeps head and tail, so pushing at either end and removing are O(1).
 * No locking of its own: each list says which lock or owner guards it.
 */
#ifndef HAK_LIST_H
#define HAK_LIST_H

#include <stddef.h>

#include "internal.h"

typedef struct hak_list_node {
    struct hak_list_node *next, *prev;
} hak_list_node;

typedef struct hak_list {
    hak_list_node *head, *tail;
} hak_list;

/* The object of type `type` whose member `member` is node n. */
#define hak_list_entry(n, type, member) ((type *)(void *)((char *)(n) - offsetof(type, member)))

hak_inline bool hak_list_empty(const hak_list *l) { return l->head == NULL; }

hak_inline void hak_list_push_front(hak_list *l, hak_list_node *n)
{
    n->prev = NULL;
    n->next = l->head;
    if (l->head)
        l->head->prev = n;
    else
        l->tail = n;
    l->head = n;
}

hak_inline void hak_list_push_back(hak_list *l, hak_list_node *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

hak_inline void hak_list_remove(hak_list *l, hak_list_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->next = n->prev = NULL;
}

#endif
