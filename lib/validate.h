/*
 * Validation of a parsed submission against its form definition: every
 * failing field is named with a reason a person can act on.
 */
#ifndef FORMDROP_VALIDATE_H
#define FORMDROP_VALIDATE_H

#include "form.h"
#include "formdef.h"

struct field_error {
	char	field[FIELD_NAME_MAX + 1];
	char	label[128];
	char	reason[160];
	size_t	row;	/* the page's row of a rows group (1...), or 0 */
};

struct validation {
	struct field_error	*v;
	size_t			 n;
};

/*
 * Check data against def.  Unknown fields are removed when the form says
 * "unknown = drop", and blank rows of a rows group are removed, so data
 * afterwards holds exactly what goes into the message.  Returns the
 * number of failing fields (each in val, one entry per field) or -1 on
 * allocation failure.
 */
int	form_validate(const struct formdef *, struct form_data *,
	    struct validation *);
void	validation_free(struct validation *);

/* 1 if s[0..len) is an addr-spec we accept (ASCII, dot-atom@domain). */
int	is_email(const char *s, size_t len);
/* 1 if s[0..len) looks like a telephone number. */
int	is_tel(const char *s, size_t len);

#endif
