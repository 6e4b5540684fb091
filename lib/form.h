/*
 * A parsed submission: the fields of a form body in the order they came,
 * repeated names kept.  Both body parsers (urlencoded.c, multipart.c)
 * produce one; validation and composition only read it.
 */
#ifndef FORMDROP_FORM_H
#define FORMDROP_FORM_H

#include <stddef.h>

#include "spool.h"

/*
 * A field.  A plain field's value is in memory; an uploaded file's
 * content is in the form's spool (value is then ""), read back with
 * form_file_open(), and only its size and digest are kept here.
 */
struct field {
	char	*name;		/* UTF-8, NUL-terminated */
	char	*value;		/* value bytes, NUL-terminated after len;
				 * "" for a file (its bytes are spooled) */
	size_t	 len;		/* value length in bytes */
	char	*filename;	/* uploaded file's base name, or NULL */
	char	*ctype;		/* declared type of an uploaded file */
	size_t	 size;		/* a file's size in bytes */
	off_t	 spool_off;	/* a file's content in the spool */
	char	 sha256[65];	/* a file's SHA-256, hex */
};

struct form_data {
	struct field	*v;
	size_t		 n;
	size_t		 cap;
	size_t		 nfiles;
	struct spool	 spool;		/* uploaded files, opened on demand */
	const char	*spool_dir;	/* where; NULL: in memory */
};

/* The bounds a parser enforces; set from [limits] in formdrop.conf. */
struct form_limits {
	size_t	body_max;
	size_t	fields_max;
	size_t	field_max;
	size_t	files_max;
	size_t	file_max;
};

/* Why a body could not be parsed; the edge maps each to a status. */
enum parse_status {
	PARSE_OK,
	PARSE_MALFORMED,	/* 400 */
	PARSE_BAD_UTF8,		/* 400 */
	PARSE_TOO_MANY_FIELDS,	/* 413 */
	PARSE_FIELD_TOO_LONG,	/* 413 */
	PARSE_TOO_MANY_FILES,	/* 413 */
	PARSE_FILE_TOO_LARGE,	/* 413 */
	PARSE_NOMEM,		/* 503 */
	PARSE_STORAGE,		/* 503: the upload spool cannot be written */
	PARSE__MAX
};

/* Empty, its files spooled in memory until spool_dir is set. */
void	form_data_init(struct form_data *);
void	form_data_free(struct form_data *);
/*
 * Append a field; copies every argument.  filename and ctype are NULL for
 * plain fields; a file's value goes to the spool.  0 on success, -1 on
 * failure (memory, or the spool).
 */
int	form_data_add(struct form_data *, const char *name, size_t namelen,
	    const char *value, size_t len, const char *filename,
	    const char *ctype);
/* The spool, opened on first use: NULL on failure. */
struct spool *form_data_spool(struct form_data *);
/* Append a file already written to the spool at off (size bytes). */
int	form_data_add_spooled(struct form_data *, const char *name,
	    size_t namelen, const char *filename, const char *ctype,
	    off_t off, size_t size, const char sha256[65]);
/*
 * The print of a submission: SHA-256 (hex) of every field in order, its
 * name, value and, for a file, its name, type and content digest.  Equal
 * for a resent copy of a submission, whatever its encoding (multipart
 * boundaries differ from one send to the next); different when anything
 * typed or attached differs.
 */
void	form_data_print(const struct form_data *, char out[65]);
/* Read back the content of file field f: 0, or -1. */
int	form_file_open(const struct form_data *, const struct field *f,
	    struct spool_reader *);
/* Remove field i, keeping the order of the others. */
void	form_data_remove(struct form_data *, size_t i);
/* Number of fields called name, and the index of the k-th one or -1. */
size_t	form_data_count(const struct form_data *, const char *name);
long	form_data_find(const struct form_data *, const char *name, size_t k);

const char	*parse_status_str(enum parse_status);

#endif
