/* Lua sources compiled into the iclc binary (frontend/ *.lua and models.lua). */
#ifndef ICLC_FRONTEND_EMBEDDED_H
#define ICLC_FRONTEND_EMBEDDED_H
#include <stddef.h>

typedef struct iclc_embedded_file {
    const char *name; /* base name, e.g. "nn.lua" */
    const char *text;
    size_t len;
} iclc_embedded_file;

/* Terminated by an entry with name == NULL. */
extern const iclc_embedded_file iclc_embedded[];

#endif
