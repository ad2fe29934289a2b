/* brownoutd: the schema migrations compiled into the binary.
 *
 * tools/embed_sql.sh generates $(BUILD)/gen/schema_sql.c from
 * schema/NNN_name.sql; that file is self-contained and defines this same
 * struct, so the two definitions must stay identical. */
#ifndef BROWNOUTD_MIGRATIONS_H
#define BROWNOUTD_MIGRATIONS_H

struct bd_migration {
	int version;      /* NNN: the PRAGMA user_version once applied */
	const char *name; /* "NNN_name", the file name without .sql */
	const char *sql;  /* the file's text */
};

/* In increasing version order; bd_n_migrations >= 1. */
extern const struct bd_migration bd_migrations[];
extern const int bd_n_migrations;

#endif
