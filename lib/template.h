/*
 * The small template language of mail bodies, subjects and error pages:
 *
 *	{{name}}		every value of name, joined with ", "
 *	{{#rows a b}}...{{/rows}}
 *				the text between, once per row: inside, {{a}}
 *				is the row's value of a (repeated fields such
 *				as an order's items and quantities)
 *
 * Names are looked up through a tpl_vars, so the same engine serves form
 * fields, built-ins ({{id}}, {{form}}, {{date}}) and error lists.
 */
#ifndef FORMDROP_TEMPLATE_H
#define FORMDROP_TEMPLATE_H

#include <stddef.h>

#include "buf.h"

struct tpl_vars {
	/* Number of values name has, or -1 when name is not known. */
	long	(*count)(const void *arg, const char *name);
	/* Value i (< count) of name. */
	void	(*value)(const void *arg, const char *name, size_t i,
		    const char **v, size_t *len);
	const void *arg;
};

enum tpl_escape {
	TPL_TEXT,	/* values as they are */
	TPL_HTML	/* & < > " ' escaped */
};

#define TPL_NAME_MAX	64

/*
 * Render tpl[0..len) into out.  0 on success; -1 when out's bound is hit
 * or the template is malformed (template_check catches that at start-up).
 */
int	template_render(const char *tpl, size_t len, const struct tpl_vars *,
	    enum tpl_escape, struct buf *out);

/*
 * Check tpl's syntax and that every name is known to vars (count != -1).
 * 0 if fine; -1 with a reason in err and its line in *line.
 */
int	template_check(const char *tpl, size_t len, const struct tpl_vars *,
	    char *err, size_t errsz, int *line);

#endif
