// SPDX-License-Identifier: Apache-2.0
// A load for sqlite (the amalgamation, linked in or as libsqlite3.so):
// an in-memory database built and queried the way applications do it
// (inserts in transactions, indexes, joins, aggregates, LIKE, sorts,
// updates, deletes), sized by ROWS and shaped by SEED, so that a profile
// taken with one seed can be tried on another (the input not used for
// training).
//   usage: sqlite_load ROWS SEED
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite3.h"

static uint64_t state;
static uint64_t next_random(void) {
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  return state >> 33;
}

static void check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    fprintf(stderr, "sqlite_load: %s: %s\n", what, sqlite3_errmsg(db));
    exit(1);
  }
}

static void exec(sqlite3* db, const char* sql) {
  char* err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "sqlite_load: %s: %s\n", sql, err);
    exit(1);
  }
}

// Runs a query, folding every column of every row into a checksum.
static uint64_t query(sqlite3* db, const char* sql) {
  sqlite3_stmt* st;
  check(sqlite3_prepare_v2(db, sql, -1, &st, NULL), db, sql);
  uint64_t sum = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      const unsigned char* t = sqlite3_column_text(st, c);
      if (t) {
        for (; *t; ++t) sum = sum * 31 + *t;
      }
    }
  }
  check(sqlite3_finalize(st), db, sql);
  return sum;
}

static const char* const kWords[] = {"alpha", "bravo",    "charlie", "delta",  "echo",   "foxtrot",
                                     "golf",  "hotel",    "india",   "juliet", "kilo",   "lima",
                                     "mike",  "november", "oscar",   "papa",   "quebec", "romeo"};
enum { kWordCount = sizeof(kWords) / sizeof(kWords[0]) };

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: sqlite_load ROWS SEED\n");
    return 2;
  }
  const long rows = atol(argv[1]);
  state = strtoull(argv[2], NULL, 10) * 2654435761u + 1;
  sqlite3* db;
  check(sqlite3_open(":memory:", &db), db, "open");
  exec(db, "PRAGMA cache_size=-65536");
  exec(db,
       "CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT, city TEXT, score REAL);"
       "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER, item TEXT, qty INTEGER,"
       " price REAL, note TEXT)");
  sqlite3_stmt* ins_c;
  sqlite3_stmt* ins_o;
  check(sqlite3_prepare_v2(db, "INSERT INTO customer(name, city, score) VALUES(?,?,?)", -1, &ins_c,
                           NULL),
        db, "prepare");
  check(sqlite3_prepare_v2(db,
                           "INSERT INTO orders(customer, item, qty, price, note) VALUES(?,?,?,?,?)",
                           -1, &ins_o, NULL),
        db, "prepare");
  const long customers = rows / 8 + 1;
  exec(db, "BEGIN");
  char buf[128];
  for (long i = 0; i < customers; ++i) {
    snprintf(buf, sizeof(buf), "%s-%s-%ld", kWords[next_random() % kWordCount],
             kWords[next_random() % kWordCount], i);
    sqlite3_bind_text(ins_c, 1, buf, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins_c, 2, kWords[next_random() % kWordCount], -1, SQLITE_STATIC);
    sqlite3_bind_double(ins_c, 3, (double)(next_random() % 10000) / 100.0);
    check(sqlite3_step(ins_c), db, "insert customer");
    sqlite3_reset(ins_c);
  }
  for (long i = 0; i < rows; ++i) {
    sqlite3_bind_int64(ins_o, 1, (sqlite3_int64)(next_random() % customers) + 1);
    sqlite3_bind_text(ins_o, 2, kWords[next_random() % kWordCount], -1, SQLITE_STATIC);
    sqlite3_bind_int(ins_o, 3, (int)(next_random() % 20) + 1);
    sqlite3_bind_double(ins_o, 4, (double)(next_random() % 100000) / 100.0);
    snprintf(buf, sizeof(buf), "note %lu %s", (unsigned long)next_random(),
             kWords[next_random() % kWordCount]);
    sqlite3_bind_text(ins_o, 5, buf, -1, SQLITE_TRANSIENT);
    check(sqlite3_step(ins_o), db, "insert order");
    sqlite3_reset(ins_o);
  }
  exec(db, "COMMIT");
  sqlite3_finalize(ins_c);
  sqlite3_finalize(ins_o);
  exec(db,
       "CREATE INDEX orders_customer ON orders(customer); CREATE INDEX customer_city ON "
       "customer(city)");
  uint64_t sum = 0;
  sum += query(db,
               "SELECT city, count(*), sum(o.qty * o.price) FROM customer c JOIN orders o"
               " ON o.customer = c.id GROUP BY city ORDER BY 3 DESC");
  sum += query(
      db, "SELECT item, avg(price), max(qty) FROM orders WHERE note LIKE '%echo%' GROUP BY item");
  sum += query(db, "SELECT name, score FROM customer WHERE score > 50 ORDER BY name LIMIT 200");
  sum += query(db,
               "SELECT c.name, o.item FROM customer c, orders o WHERE o.customer = c.id AND"
               " c.city = 'delta' AND o.qty > 15 ORDER BY o.price");
  sum += query(
      db, "SELECT substr(note, 6, 4), count(*) FROM orders GROUP BY 1 ORDER BY 2 DESC LIMIT 50");
  sqlite3_stmt* point;
  check(
      sqlite3_prepare_v2(db, "SELECT sum(price) FROM orders WHERE customer = ?", -1, &point, NULL),
      db, "prepare");
  for (long i = 0; i < rows / 4; ++i) {
    sqlite3_bind_int64(point, 1, (sqlite3_int64)(next_random() % customers) + 1);
    while (sqlite3_step(point) == SQLITE_ROW) sum += (uint64_t)sqlite3_column_double(point, 0);
    sqlite3_reset(point);
  }
  sqlite3_finalize(point);
  exec(db,
       "BEGIN; UPDATE orders SET qty = qty + 1 WHERE item IN ('alpha', 'kilo');"
       " DELETE FROM orders WHERE price < 100; COMMIT");
  sum += query(db, "SELECT count(*), sum(qty) FROM orders");
  sqlite3_close(db);
  printf("%llu\n", (unsigned long long)sum);
  return 0;
}
