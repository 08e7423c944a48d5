// config.c: the run configuration: defaults, file and command-line parsing, checks, output, help.
//
// Everything is driven by the key table that TRPO_CONFIG_FIELDS expands to: a key is parsed,
// range-checked, written and listed by its type alone, so adding a key is one line in trpo.h. The
// only derived fields are the layer lists parsed from `hidden` and `vf_hidden`.
//
// Files are flat INI ("key = value" lines, '#' or ';' comment lines, "value ; comment" inline
// comments), parsed by libinih through a line reader of ours that counts lines, refuses [section]
// headers, lines without '=' and NUL bytes (which would cut a line short unseen), and strips
// leading blanks (so no line is ever read as a multi-line continuation). Lines up to MAXLINE
// characters are allowed, longer than inih's default 200: this uses the run-time knobs of Debian's
// libinih build (ini_use_stack, ini_max_line, ...), set for the duration of one parse and restored
// after. Values are checked fully: an integer must be all digits and in range, a double finite
// and in range, a string short enough and free of what would not survive a write and a reload. A
// key may appear once in a file and once on the command line: given twice, one of the values
// would be lost unseen. trpo_config_load applies the file, then the overrides, on top of what *c
// holds (normally trpo_config_default's values), then checks the relations between keys; a
// failed load leaves *c untouched. Messages show bytes other than printable ASCII as \xNN.
//
// Not a general INI library: no sections, no includes, no environment-variable expansion.

#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "trpo/trpo.h"

#define MAXLINE 4096          // longest config-file line accepted (characters, newline included)
#define MAXSIZE 100000        // largest hidden-layer size
#define WHERELEN 4352         // "path:line" of an error

//---------------------------------- the key table -------------------------------------------------

enum { T_INT, T_LONG, T_DOUBLE, T_STR };

typedef struct key_ {
  const char* name;
  int type;
  size_t off;            // offset of the member in trpo_config
  double lo, hi;         // inclusive range (numbers)
  const char* help;
  double num;            // default (numbers)
  const char* str;       // default (strings)
} key;

#define KEY_INT(n, d, l, h, hp) {#n, T_INT, offsetof(trpo_config, n), l, h, hp, d, NULL},
#define KEY_LONG(n, d, l, h, hp) {#n, T_LONG, offsetof(trpo_config, n), l, h, hp, d, NULL},
#define KEY_DOUBLE(n, d, l, h, hp) {#n, T_DOUBLE, offsetof(trpo_config, n), l, h, hp, d, NULL},
#define KEY_STR(n, d, l, h, hp) {#n, T_STR, offsetof(trpo_config, n), l, h, hp, 0, d},
#define KEY(type, n, d, l, h, hp) KEY_##type(n, d, l, h, hp)
static const key keys[] = {TRPO_CONFIG_FIELDS(KEY)};
#undef KEY
#define NKEY ((int)(sizeof keys / sizeof keys[0]))

// string keys that hold a layer list, and where the parsed list goes
typedef struct layers_ { const char* name; size_t count_off, sizes_off; } layers;
static const layers layer_keys[] = {
    {"hidden", offsetof(trpo_config, nhidden), offsetof(trpo_config, hidden_sizes)},
    {"vf_hidden", offsetof(trpo_config, nvf_hidden), offsetof(trpo_config, vf_hidden_sizes)},
};

static const key* find(const char* name) {
  for (int i = 0; i < NKEY; i++)
    if (!strcmp(keys[i].name, name)) return keys + i;
  return NULL;
}

static const layers* find_layers(const char* name) {
  for (size_t i = 0; i < sizeof layer_keys / sizeof layer_keys[0]; i++)
    if (!strcmp(layer_keys[i].name, name)) return layer_keys + i;
  return NULL;
}

//---------------------------------- value parsing -------------------------------------------------

static int fail(char* err, size_t nerr, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char* err, size_t nerr, const char* fmt, ...) {
  if (err && nerr) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, nerr, fmt, ap);
    va_end(ap);
  }
  return TRPO_EXIT_BADINPUT;
}

// a whole decimal integer (optional sign), nothing after it
static int parse_long(const char* s, long* out) {
  char* end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || isspace((unsigned char)*s)) return 0;
  *out = v;
  return 1;
}

// a whole finite number, nothing after it (underflow to a subnormal or zero is accepted)
static int parse_double(const char* s, double* out) {
  char* end;
  double v = strtod(s, &end);
  if (end == s || *end || isspace((unsigned char)*s) || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

// comma-separated layer sizes in [1, MAXSIZE], at most TRPO_MAXLAYER - 1, blanks allowed around
// them; an empty list means no hidden layer
static int parse_layers(const char* s, int* sizes, int* count) {
  int k = 0;
  while (isspace((unsigned char)*s)) s++;
  if (*s) {
    for (;;) {
      // one size, then a comma or the end
      while (isspace((unsigned char)*s)) s++;
      if (!isdigit((unsigned char)*s) || k == TRPO_MAXLAYER - 1) return 0;
      char* end;
      errno = 0;
      long v = strtol(s, &end, 10);
      if (errno || v < 1 || v > MAXSIZE) return 0;
      sizes[k++] = (int)v;
      s = end;
      while (isspace((unsigned char)*s)) s++;
      if (!*s) break;
      if (*s++ != ',') return 0;
    }
  }
  for (int i = k; i < TRPO_MAXLAYER; i++) sizes[i] = 0;
  *count = k;
  return 1;
}

// a string survives "key = value" write and reload: no control character, no leading or
// trailing blank, no ';' that inih would take for an inline comment (at the start or after a blank)
static int str_ok(const char* s) {
  size_t n = strlen(s);
  if (n && (isspace((unsigned char)s[0]) || isspace((unsigned char)s[n - 1]))) return 0;
  for (size_t i = 0; i < n; i++) {
    if (iscntrl((unsigned char)s[i])) return 0;
    if (s[i] == ';' && (i == 0 || isspace((unsigned char)s[i - 1]))) return 0;
  }
  return 1;
}

// a value as shown in a message: bytes other than printable ASCII as \xNN (so a stray byte is
// seen, and an escape sequence cannot drive the terminal), a long one cut with "..."
#define SHOWN 128
static int printable(unsigned char ch) { return ch >= 0x20 && ch < 0x7f; }
static const char* shown_value(char* buf, const char* v) {
  // the whole shown width decides whether it is cut
  size_t width = 0;
  for (const char* p = v; *p && width < SHOWN; p++) width += printable((unsigned char)*p) ? 1 : 4;
  size_t room = width < SHOWN ? SHOWN - 1 : SHOWN - 4, k = 0;
  // whole characters and escapes while they fit
  for (; *v; v++) {
    unsigned char ch = (unsigned char)*v;
    size_t w = printable(ch) ? 1 : 4;
    if (k + w > room) break;
    if (w == 1) buf[k] = (char)ch;
    else snprintf(buf + k, 5, "\\x%02x", ch);
    k += w;
  }
  if (*v) memcpy(buf + k, "...", 4);
  else buf[k] = 0;
  return buf;
}

// "[lo, hi]" with integers printed whole and doubles short
static void range_text(char* buf, size_t n, const key* k) {
  if (k->type == T_DOUBLE) snprintf(buf, n, "[%g, %g]", k->lo, k->hi);
  else snprintf(buf, n, "[%.0f, %.0f]", k->lo, k->hi);
}

//---------------------------------- set, default --------------------------------------------------

int trpo_config_set(trpo_config* c, const char* name, const char* value, const char* where,
                    char* err, size_t nerr) {
  if (!where) where = "command line";
  char sv[SHOWN];
  const key* k = find(name);
  if (!k) return fail(err, nerr, "%s: unknown key '%s'", where, shown_value(sv, name));
  char* dst = (char*)c + k->off;
  char range[96];
  range_text(range, sizeof range, k);

  // integers: whole, in range; doubles: finite, in range
  if (k->type == T_INT || k->type == T_LONG) {
    long v;
    if (!parse_long(value, &v) || (double)v < k->lo || (double)v > k->hi)
      return fail(err, nerr, "%s: key '%s': expected an integer in %s, got '%s'", where, name,
                  range, shown_value(sv, value));
    if (k->type == T_INT) *(int*)dst = (int)v;
    else *(long*)dst = v;
    return 0;
  }
  if (k->type == T_DOUBLE) {
    double v;
    if (!parse_double(value, &v) || v < k->lo || v > k->hi)
      return fail(err, nerr, "%s: key '%s': expected a number in %s, got '%s'", where, name,
                  range, shown_value(sv, value));
    *(double*)dst = v;
    return 0;
  }

  // strings: fit the member, survive a write and reload
  size_t len = strlen(value);
  if (len >= TRPO_STRLEN)
    return fail(err, nerr, "%s: key '%s': expected at most %d characters, got %zu", where, name,
                TRPO_STRLEN - 1, len);
  if (!str_ok(value))
    return fail(err, nerr,
                "%s: key '%s': expected text without control characters, leading or trailing "
                "blanks or a ';' after a blank (an inline comment), got '%s'",
                where, name, shown_value(sv, value));

  // layer lists: parse before storing anything
  const layers* l = find_layers(name);
  if (l) {
    int sizes[TRPO_MAXLAYER], count;
    if (!parse_layers(value, sizes, &count))
      return fail(err, nerr,
                  "%s: key '%s': expected comma-separated layer sizes in [1, %d], at most %d of "
                  "them, or nothing, got '%s'",
                  where, name, MAXSIZE, TRPO_MAXLAYER - 1, shown_value(sv, value));
    *(int*)((char*)c + l->count_off) = count;
    memcpy((char*)c + l->sizes_off, sizes, sizeof sizes);
  }
  memset(dst, 0, TRPO_STRLEN);
  memcpy(dst, value, len);
  return 0;
}

void trpo_config_default(trpo_config* c) {
  // zero everything (padding and string tails too, so equal configs compare equal bytewise)
  memset(c, 0, sizeof *c);
  for (int i = 0; i < NKEY; i++) {
    char* dst = (char*)c + keys[i].off;
    switch (keys[i].type) {
      case T_INT: *(int*)dst = (int)keys[i].num; break;
      case T_LONG: *(long*)dst = (long)keys[i].num; break;
      case T_DOUBLE: *(double*)dst = keys[i].num; break;
      default: {
        // strings go through set so that layer lists are parsed too
        char err[256];
        if (trpo_config_set(c, keys[i].name, keys[i].str, "default", err, sizeof err))
          TRPO_FATAL("bad default: %s", err);
      }
    }
  }
}

//---------------------------------- file parsing --------------------------------------------------

// state of one file parse, shared by the line reader and the key handler
typedef struct source_ {
  FILE* f;
  const char* path;
  int lineno;               // line being parsed
  char line[MAXLINE];       // current line, leading blanks removed
  size_t len, pos;          // its length, and how much was handed to inih
  int failed;               // an error is in err; stop
  int* seen;                // line of each key (index in keys) in this file, 0 not yet
  trpo_config* c;
  char* err;
  size_t nerr;
} source;

// the line for messages: without its newline, cut and cleaned
static const char* shown(source* s, char* buf) {
  s->line[strcspn(s->line, "\r\n")] = 0;
  return shown_value(buf, s->line);
}

// read and check the next line; 0 at the end of the file or on an error
static int next_line(source* s) {
  // one whole line, newline kept, up to a NUL byte (fgets would hide one: its line would end
  // there, what follows it dropped unseen)
  size_t len = 0;
  int ch = EOF;
  while (len < sizeof s->line - 1 && (ch = getc(s->f)) != EOF && ch != 0) {
    s->line[len++] = (char)ch;
    if (ch == '\n') break;
  }
  s->line[len] = 0;
  if (len == 0 && ch == EOF) return 0;
  s->lineno++;
  if (ch == 0) {
    s->failed = 1;
    fail(s->err, s->nerr, "%s:%d: NUL byte at column %zu: expected a text file", s->path,
         s->lineno, len + 1);
    return 0;
  }

  // not longer than MAXLINE
  if (len == sizeof s->line - 1 && s->line[len - 1] != '\n' && getc(s->f) != EOF) {
    s->failed = 1;
    fail(s->err, s->nerr, "%s:%d: line longer than %d characters", s->path, s->lineno,
         MAXLINE - 2);
    return 0;
  }

  // leading blanks off, so inih never reads an indented line as a continuation (and a UTF-8
  // byte-order mark off the first line)
  size_t skip = 0;
  if (s->lineno == 1 && !strncmp(s->line, "\xEF\xBB\xBF", 3)) skip = 3;
  while (s->line[skip] == ' ' || s->line[skip] == '\t') skip++;
  memmove(s->line, s->line + skip, len - skip + 1);
  s->len = len - skip;
  s->pos = 0;

  // blank and comment lines pass; a section header or a line without '=' is refused
  char c0 = s->line[0], sv[SHOWN];
  if (c0 == 0 || c0 == '\n' || c0 == '\r' || c0 == '#' || c0 == ';') return 1;
  const char* sep = strpbrk(s->line, "=:");
  if (c0 == '[') {
    s->failed = 1;
    fail(s->err, s->nerr,
         "%s:%d: section headers are not allowed (the file is flat 'key = value' lines), got '%s'",
         s->path, s->lineno, shown(s, sv));
    return 0;
  }
  if (!sep || *sep != '=') {
    s->failed = 1;
    fail(s->err, s->nerr, "%s:%d: expected 'key = value', got '%s'", s->path, s->lineno,
         shown(s, sv));
    return 0;
  }
  return 1;
}

// inih's fgets-like reader: hands out the current line in pieces of at most num - 1 characters
static char* reader(char* str, int num, void* stream) {
  source* s = stream;
  if (s->failed || num < 2) return NULL;
  if (s->pos == s->len && !next_line(s)) return NULL;
  size_t k = s->len - s->pos;
  if (k > (size_t)num - 1) k = (size_t)num - 1;
  memcpy(str, s->line + s->pos, k);
  str[k] = 0;
  s->pos += k;
  return str;
}

static int handler(void* user, const char* section, const char* name, const char* value) {
  source* s = user;
  if (s->failed) return 0;
  char where[WHERELEN];
  snprintf(where, sizeof where, "%s:%d", s->path, s->lineno);
  // a section inih found (behind a byte-order mark, say) is refused like any other
  char sn[SHOWN], ss[SHOWN];
  if (section[0]) {
    s->failed = 1;
    fail(s->err, s->nerr, "%s: key '%s' is in section [%s]: sections are not allowed", where,
         shown_value(sn, name), shown_value(ss, section));
    return 0;
  }
  // a key given again would silently replace the first value: which one was meant?
  const key* k = find(name);
  if (k && s->seen[k - keys]) {
    s->failed = 1;
    fail(s->err, s->nerr, "%s: key '%s' given twice (first on line %d): expected each key once",
         where, name, s->seen[k - keys]);
    return 0;
  }
  if (trpo_config_set(s->c, name, value, where, s->err, s->nerr)) {
    s->failed = 1;
    return 0;
  }
  s->seen[k - keys] = s->lineno;   // set() succeeded: a known key
  return 1;
}

// parse one stream, named `path` in messages, noting the line of each key in seen[NKEY] (zeroed
// by the caller); the caller closes f
static int parse_stream(trpo_config* c, int* seen, FILE* f, const char* path, char* err,
                        size_t nerr) {
  source* s = &(source){.f = f, .path = path, .seen = seen, .c = c, .err = err, .nerr = nerr};

  // inih with a growing heap line buffer for this parse, its defaults restored after
  bool stack = ini_use_stack, grow = ini_allow_realloc, multi = ini_allow_multiline;
  int maxline = ini_max_line;
  ini_use_stack = false;
  ini_allow_realloc = true;
  ini_allow_multiline = false;
  ini_max_line = 2 * MAXLINE;
  int rc = ini_parse_stream(reader, s, handler, s);
  ini_use_stack = stack;
  ini_allow_realloc = grow;
  ini_allow_multiline = multi;
  ini_max_line = maxline;

  // our own error first, then a read error, then anything inih found that we did not
  if (s->failed) return TRPO_EXIT_BADINPUT;
  if (ferror(f)) return fail(err, nerr, "cannot read config file '%s'", path);
  if (rc == -2) TRPO_FATAL("out of memory parsing '%s'", path);
  if (rc) return fail(err, nerr, "%s:%d: expected 'key = value'", path, rc);
  return 0;
}

static int load_file(trpo_config* c, int* seen, const char* path, char* err, size_t nerr) {
  FILE* f = fopen(path, "r");
  if (!f) return fail(err, nerr, "cannot open config file '%s': %s", path, strerror(errno));
  int rc = parse_stream(c, seen, f, path, err, nerr);
  fclose(f);
  return rc;
}

int trpo_config_parse(trpo_config* c, const char* text, const char* name, char* err, size_t nerr) {
  size_t n = strlen(text);
  if (n == 0) return fail(err, nerr, "%s: the config is empty", name);
  FILE* f = fmemopen((void*)text, n, "r");
  if (!f) TRPO_FATAL("fmemopen of %zu bytes: %s", n, strerror(errno));
  trpo_config* t = &(trpo_config){0};
  memcpy(t, c, sizeof *t);
  int seen[NKEY] = {0};
  int rc = parse_stream(t, seen, f, name, err, nerr);
  fclose(f);
  if (!rc) memcpy(c, t, sizeof *c);
  return rc;
}

//---------------------------------- load ----------------------------------------------------------

// one "key=value" override; blanks around key and value are ignored. given[NKEY] holds the
// argument that already set each key, if any
static int load_override(trpo_config* c, const char** given, const char* arg, char* err,
                         size_t nerr) {
  const char* eq = strchr(arg, '=');
  char sv[SHOWN];
  if (!eq)
    return fail(err, nerr, "command line: expected key=value, got '%s'", shown_value(sv, arg));

  // trimmed copies of key and value
  char name[64], value[2 * TRPO_STRLEN];
  const char* b = arg;
  const char* e = eq;
  while (b < e && isspace((unsigned char)*b)) b++;
  while (e > b && isspace((unsigned char)e[-1])) e--;
  size_t nk = (size_t)(e - b);
  if (nk >= sizeof name) nk = sizeof name - 1;   // longer than any key: stays unknown
  memcpy(name, b, nk);
  name[nk] = 0;

  // a key given again would silently replace the first value: which one was meant?
  const key* k = find(name);
  if (k && given[k - keys]) {
    char sv2[SHOWN];
    return fail(err, nerr,
                "command line: key '%s' given twice ('%s', then '%s'): expected each key once",
                name, shown_value(sv, given[k - keys]), shown_value(sv2, arg));
  }
  if (k) given[k - keys] = arg;

  // the value
  b = eq + 1;
  e = b + strlen(b);
  while (b < e && isspace((unsigned char)*b)) b++;
  while (e > b && isspace((unsigned char)e[-1])) e--;
  size_t nv = (size_t)(e - b);
  if (nv >= sizeof value)
    return fail(err, nerr, "command line: key '%s': expected at most %d characters, got %zu",
                shown_value(sv, name), TRPO_STRLEN - 1, nv);
  memcpy(value, b, nv);
  value[nv] = 0;
  return trpo_config_set(c, name, value, "command line", err, nerr);
}

// where key `name` got its value in a load, for messages: "line N" of the file, "command line"
// or "default"
static const char* origin(char* buf, size_t n, const char* name, const int* seen,
                          const char* const* given) {
  int i = (int)(find(name) - keys);
  if (given[i]) return "command line";
  if (!seen[i]) return "default";
  snprintf(buf, n, "line %d", seen[i]);
  return buf;
}

// relations between keys that no single range can say; where each key came from is in seen
// (file lines) and given (override arguments), and `place` leads the message
static int check_keys(const trpo_config* c, const int* seen, const char* const* given,
                      const char* place, char* err, size_t nerr) {
  char o1[32], o2[32], o3[32];

  // one row in the whole batch: its advantage normalises to (A - mean) / std = 0, and with it
  // every policy gradient (the run would stop after max_skips "non-finite" updates)
  if (c->norm_adv && c->nenv == 1 && c->nsteps == 1)
    return fail(err, nerr,
                "%s: nenv = 1 (%s) and nsteps = 1 (%s) give one row per batch, and norm_adv = 1 "
                "(%s) normalises its advantage to 0, a zero policy gradient: expected "
                "nenv * nsteps >= 2 or norm_adv = 0",
                place, origin(o1, sizeof o1, "nenv", seen, given),
                origin(o2, sizeof o2, "nsteps", seen, given),
                origin(o3, sizeof o3, "norm_adv", seen, given));
  return 0;
}

int trpo_config_load(trpo_config* c, const char* path, int noverride, char** overrides, char* err,
                     size_t nerr) {
  // work on a copy: a failed load changes nothing
  trpo_config* t = &(trpo_config){0};
  memcpy(t, c, sizeof *t);
  int seen[NKEY] = {0};
  const char* given[NKEY] = {0};
  if (path) {
    int rc = load_file(t, seen, path, err, nerr);
    if (rc) return rc;
  }
  for (int i = 0; i < noverride; i++) {
    int rc = load_override(t, given, overrides[i], err, nerr);
    if (rc) return rc;
  }
  int rc = check_keys(t, seen, given, path ? path : "command line", err, nerr);
  if (rc) return rc;
  memcpy(c, t, sizeof *c);
  return 0;
}

//---------------------------------- write, help ---------------------------------------------------

// append to buf (never past nbuf, always terminated), counting the full length in *len
static void put(char* buf, size_t nbuf, size_t* len, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void put(char* buf, size_t nbuf, size_t* len, const char* fmt, ...) {
  size_t at = *len < nbuf ? *len : nbuf;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(nbuf ? buf + at : NULL, nbuf - at, fmt, ap);
  va_end(ap);
  if (n > 0) *len += (size_t)n;
}

// the value of key k in c as the config file spells it
static void value_text(char* buf, size_t n, const trpo_config* c, const key* k) {
  const char* src = (const char*)c + k->off;
  switch (k->type) {
    case T_INT: snprintf(buf, n, "%d", *(const int*)src); break;
    case T_LONG: snprintf(buf, n, "%ld", *(const long*)src); break;
    case T_DOUBLE: snprintf(buf, n, "%.17g", *(const double*)src); break;
    default: snprintf(buf, n, "%s", src);
  }
}

size_t trpo_config_write(const trpo_config* c, char* buf, size_t nbuf) {
  size_t len = 0;
  if (nbuf) buf[0] = 0;
  for (int i = 0; i < NKEY; i++) {
    char v[TRPO_STRLEN + 32];
    value_text(v, sizeof v, c, keys + i);
    put(buf, nbuf, &len, "%s = %s\n", keys[i].name, v);
  }
  return len;
}

void trpo_config_help(void* file) {
  FILE* f = file;
  // the defaults, printed the way a config file spells them
  trpo_config* d = &(trpo_config){0};
  trpo_config_default(d);
  fprintf(f, "%-20s %-14s %-24s %s\n", "key", "default", "range", "meaning");
  for (int i = 0; i < NKEY; i++) {
    const key* k = keys + i;
    char v[TRPO_STRLEN + 32], range[96];
    // doubles short here (%g); the config file spells them exactly (%.17g)
    if (k->type == T_DOUBLE) snprintf(v, sizeof v, "%g", *(const double*)((char*)d + k->off));
    else value_text(v, sizeof v, d, k);
    if (k->type == T_STR)
      snprintf(range, sizeof range, "%s", find_layers(k->name) ? "sizes,..." : "text");
    else range_text(range, sizeof range, k);
    fprintf(f, "%-20s %-14s %-24s %s\n", k->name, v[0] ? v : "(empty)", range, k->help);
  }
}
