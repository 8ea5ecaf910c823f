/*
 * Host unit test of the C encoder: checks es_crc32 against the CRC-32/ISO-HDLC check value,
 * encodes every vector in vectors/vectors.txt and compares the wire frame with vectors/NAME.bin
 * byte for byte, checks argument validation, and drives the resend-request receiver (es_rx_push)
 * with valid, damaged, foreign and random input. Prints TAP; exit status 0 when all pass.
 *   cc -std=c99 -Wall -Wextra -Werror -pedantic -I.. ../earshot_encoder.c test_encoder.c -o t && ./t ../vectors
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "earshot_encoder.h"

static int failures = 0;
static int count = 0;

static void check(int ok, const char *what) {
  count++;
  if (!ok) failures++;
  printf("%sok %d - %s\n", ok ? "" : "not ", count, what);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static uint8_t payload[1024 * 8 * 4];
static uint8_t wire[ES_WIRE_MAX(sizeof payload)];
static uint8_t expected[sizeof wire];
static char line[2 * sizeof payload + 256];

/* xorshift32 (Marsaglia 2003): deterministic, so a failing fuzz run repeats exactly. */
static uint32_t rng_state = 0x2545F491u;
static uint32_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* The receiver under test, between guard bytes that catch a write past either end of it. */
static struct {
  uint8_t before[16];
  es_rx rx;
  uint8_t after[16];
} guarded;

static void rx_reset(void) {
  memset(&guarded, 0xA5, sizeof guarded);
  memset(&guarded.rx, 0, sizeof guarded.rx);
}

static int guards_intact(void) {
  for (size_t i = 0; i < sizeof guarded.before; i++)
    if (guarded.before[i] != 0xA5 || guarded.after[i] != 0xA5) return 0;
  return 1;
}

/* Feeds `len` bytes; returns how many requests they completed, the last one in *first / *n. */
static int rx_feed(const uint8_t *bytes, size_t len, uint32_t *first, uint16_t *n) {
  int found = 0;
  for (size_t i = 0; i < len; i++) found += es_rx_push(&guarded.rx, bytes[i], first, n);
  return found;
}

/* 1 when `bytes` hold exactly one request, completed by their last byte, equal to first/n. */
static int rx_feed_one(const uint8_t *bytes, size_t len, uint32_t want_first, uint16_t want_n) {
  uint32_t first = 0;
  uint16_t n = 0;
  if (len == 0 || rx_feed(bytes, len - 1, &first, &n) != 0) return 0;
  return es_rx_push(&guarded.rx, bytes[len - 1], &first, &n) == 1 && first == want_first && n == want_n;
}

/* A request packet with any count, CRC correct, as wire bytes: what the encoder refuses to make. */
static size_t raw_request(uint8_t version, uint8_t type, uint32_t first, uint16_t n, uint8_t *out) {
  uint8_t p[20] = {ES_MAGIC0, ES_MAGIC1, version, type, (uint8_t)first, (uint8_t)(first >> 8), (uint8_t)(first >> 16), (uint8_t)(first >> 24), (uint8_t)n, (uint8_t)(n >> 8)};
  uint32_t crc = es_crc32(0, p, 16);
  for (int i = 0; i < 4; i++) p[16 + i] = (uint8_t)(crc >> (8 * i));
  /* COBS by hand (20 < 254 bytes: one code byte per zero, plus one). */
  size_t w = 0, code_at = 1;
  out[w++] = 0;
  w++;
  uint8_t code = 1;
  for (int i = 0; i < 20; i++) {
    if (p[i] == 0) {
      out[code_at] = code;
      code_at = w++;
      code = 1;
    } else {
      out[w++] = p[i];
      code++;
    }
  }
  out[code_at] = code;
  out[w++] = 0;
  return w;
}

static void test_rx(void) {
  uint8_t req[ES_WIRE_MAX(0)], junk[600], audio[ES_WIRE_MAX(64)], frame[ES_WIRE_MAX(0)];
  size_t req_len = es_encode_resend_request(0xFFFFFFF0u, 17, req, sizeof req);
  uint32_t first = 0;
  uint16_t n = 0;

  rx_reset();
  check(rx_feed_one(req, req_len, 0xFFFFFFF0u, 17), "es_rx_push: a request fed byte by byte is read on its closing 0x00");
  check(rx_feed_one(req, req_len, 0xFFFFFFF0u, 17), "es_rx_push: and again (the receiver resets after a frame)");
  check(rx_feed_one(req + 1, req_len - 1, 0xFFFFFFF0u, 17), "es_rx_push: a request without its leading 0x00 right after a delimiter");
  check(es_rx_push(&guarded.rx, 0, NULL, NULL) == 0 && rx_feed(req, req_len, NULL, NULL) == 1, "es_rx_push: empty frames are ignored, NULL outputs are allowed");

  for (size_t i = 0; i < 7; i++) junk[i] = (uint8_t)(0x31 + i);
  rx_reset();
  check(rx_feed(junk, 7, &first, &n) == 0 && rx_feed_one(req, req_len, 0xFFFFFFF0u, 17), "es_rx_push: garbage before a request costs nothing");
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)(1 + rng() % 255);
  rx_reset();
  check(rx_feed(junk, sizeof junk, &first, &n) == 0 && rx_feed_one(req, req_len, 0xFFFFFFF0u, 17), "es_rx_push: a 600-byte run without 0x00 is dropped, the next request read");
  /* A run of exactly the frame size, then one more byte: the boundary of the discard. */
  rx_reset();
  check(rx_feed(junk, ES_RX_FRAME_BYTES, &first, &n) == 0 && rx_feed_one(req, req_len, 0xFFFFFFF0u, 17), "es_rx_push: a 21-byte junk frame is rejected");
  check(rx_feed(junk, ES_RX_FRAME_BYTES + 1, &first, &n) == 0 && rx_feed_one(req, req_len, 0xFFFFFFF0u, 17), "es_rx_push: a 22-byte junk run is dropped");
  /* The request's body glued to junk without a delimiter between: one long run, dropped whole. */
  check(rx_feed(junk, 5, &first, &n) == 0 && rx_feed(req + 1, req_len - 1, &first, &n) == 0, "es_rx_push: a request glued to junk without its leading 0x00 is not read");

  int flips_rejected = 1, resynced = 1;
  rx_reset();
  for (size_t at = 1; at + 1 < req_len; at++) {
    for (int bit = 0; bit < 8; bit++) {
      memcpy(frame, req, req_len);
      frame[at] ^= (uint8_t)(1u << bit);
      if (rx_feed(frame, req_len, &first, &n) != 0) flips_rejected = 0;
      if (!rx_feed_one(req, req_len, 0xFFFFFFF0u, 17)) resynced = 0;
    }
  }
  check(flips_rejected, "es_rx_push: every one-bit flip of a request's 21 COBS bytes is rejected");
  check(resynced, "es_rx_push: the request after each damaged one is read");

  es_encoder enc = {0};
  size_t audio_len = es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 64, audio, sizeof audio);
  size_t status_len = es_encode_status(&enc, ES_STATUS_CLIPPING, 0, 0, frame, sizeof frame);
  rx_reset();
  check(audio_len > 0 && rx_feed(audio, audio_len, &first, &n) == 0 && rx_feed_one(req, req_len, 0xFFFFFFF0u, 17), "es_rx_push: an audio packet is rejected");
  check(status_len == 23 && rx_feed(frame, status_len, &first, &n) == 0, "es_rx_push: a status packet (same length, type 2) is rejected");
  check(rx_feed(frame, raw_request(ES_VERSION, ES_TYPE_RESEND_REQUEST, 9, 0, frame), &first, &n) == 0, "es_rx_push: count 0 is rejected");
  check(rx_feed(frame, raw_request(ES_VERSION, ES_TYPE_RESEND_REQUEST, 9, 65, frame), &first, &n) == 0, "es_rx_push: count 65 is rejected");
  check(rx_feed(frame, raw_request(2, ES_TYPE_RESEND_REQUEST, 9, 1, frame), &first, &n) == 0, "es_rx_push: version 2 is rejected");
  check(rx_feed_one(frame, raw_request(ES_VERSION, ES_TYPE_RESEND_REQUEST, 9, 64, frame), 9, 64), "es_rx_push: count 64 is read (and the hand-built frame is sound)");
  check(guards_intact(), "es_rx_push: nothing written outside the receiver");

  /* Fuzz: random bursts (raw noise, or a request with 1-3 corrupted bytes, or a truncated one),
   * each ended by 0x00, with a valid request between them. Every valid request must be found,
   * with its fields, and nothing else. */
  size_t fed = 0;
  int inserted = 0, matched = 0, spurious = 0;
  rx_reset();
  while (fed < 200000) {
    size_t burst_len;
    uint32_t kind = rng() % 4;
    if (kind == 0) {
      burst_len = rng() % (sizeof junk - 1);
      for (size_t i = 0; i < burst_len; i++) junk[i] = (uint8_t)rng();
    } else if (kind == 1) {
      /* Mostly non-zero bytes: long runs that exercise the discard path. */
      burst_len = rng() % (sizeof junk - 1);
      for (size_t i = 0; i < burst_len; i++) junk[i] = (uint8_t)(1 + rng() % 255);
    } else {
      burst_len = es_encode_resend_request(rng(), (uint16_t)(1 + rng() % 64), junk, sizeof junk);
      if (kind == 2) {
        for (uint32_t k = 0, damage = 1 + rng() % 3; k < damage; k++) junk[rng() % burst_len] ^= (uint8_t)(1 + rng() % 255);
      } else {
        burst_len = 1 + rng() % (burst_len - 2); /* cut before its closing delimiter */
      }
    }
    junk[burst_len++] = 0;
    spurious += rx_feed(junk, burst_len, &first, &n);
    uint32_t want_first = rng();
    uint16_t want_n = (uint16_t)(1 + rng() % 64);
    req_len = es_encode_resend_request(want_first, want_n, req, sizeof req);
    inserted++;
    matched += rx_feed_one(req, req_len, want_first, want_n);
    fed += burst_len + req_len;
  }
  char what[160];
  snprintf(what, sizeof what, "es_rx_push fuzz: %zu bytes, %d of %d requests found, %d spurious", fed, matched, inserted, spurious);
  check(matched == inserted && spurious == 0, what);
  check(guards_intact(), "es_rx_push fuzz: nothing written outside the receiver");
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "vectors";
  const uint8_t check_input[] = "123456789";
  check(es_crc32(0, check_input, 9) == 0xCBF43926u, "es_crc32(\"123456789\") = 0xCBF43926");
  check(es_crc32(es_crc32(0, check_input, 4), check_input + 4, 5) == 0xCBF43926u, "es_crc32 continues across blocks");

  char path[1024];
  snprintf(path, sizeof path, "%s/vectors.txt", dir);
  FILE *index = fopen(path, "r");
  if (!index) {
    printf("Bail out! cannot open %s\n", path);
    return 2;
  }
  int vectors = 0, resend_vectors = 0;
  while (fgets(line, sizeof line, index)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    char name[128], type[16];
    unsigned long sequence;
    int used = 0;
    if (sscanf(line, "%127s %15s %lu%n", name, type, &sequence, &used) != 3) continue;
    size_t n = 0;
    es_encoder enc;
    if (strcmp(type, "audio") == 0) {
      unsigned long rate;
      unsigned format, channels;
      int more = 0;
      sscanf(line + used, "%lu %u %u %n", &rate, &format, &channels, &more);
      const char *hex = line + used + more;
      size_t len = 0;
      while (hex_value(hex[0]) >= 0 && hex_value(hex[1]) >= 0 && len < sizeof payload) {
        payload[len++] = (uint8_t)(hex_value(hex[0]) * 16 + hex_value(hex[1]));
        hex += 2;
      }
      enc.sequence = (uint32_t)sequence;
      n = es_encode_audio(&enc, (uint32_t)rate, (uint8_t)format, (uint8_t)channels, payload, len, wire, sizeof wire);
      check(enc.sequence == (uint32_t)(sequence + 1u), "audio packet advances the sequence number");
    } else if (strcmp(type, "status") == 0) {
      unsigned flags;
      unsigned long dropped;
      int gain;
      sscanf(line + used, "%u %lu %d", &flags, &dropped, &gain);
      enc.sequence = (uint32_t)sequence + 1u;
      n = es_encode_status(&enc, (uint16_t)flags, (uint32_t)dropped, (int16_t)gain, wire, sizeof wire);
    } else if (strcmp(type, "resend") == 0) {
      unsigned resend_count = 0;
      sscanf(line + used, "%u", &resend_count);
      n = es_encode_resend_request((uint32_t)sequence, (uint16_t)resend_count, wire, sizeof wire);
      resend_vectors++;
    } else {
      char what[256];
      snprintf(what, sizeof what, "%s: known vector type (%s)", name, type);
      check(0, what);
      continue;
    }
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    size_t m = read_file(path, expected, sizeof expected);
    char what[512];
    snprintf(what, sizeof what, "%s: %zu bytes, identical to %s.bin (%zu bytes)", name, n, name, m);
    check(n > 0 && n == m && memcmp(wire, expected, n) == 0, what);
    if (strcmp(type, "resend") == 0) {
      /* The receiver reads the shared bytes back, not just the C encoder's own output. */
      unsigned resend_count = 0;
      sscanf(line + used, "%u", &resend_count);
      snprintf(what, sizeof what, "%s: es_rx_push reads first %lu, count %u from %s.bin", name, sequence, resend_count, name);
      check(rx_feed_one(expected, m, (uint32_t)sequence, (uint16_t)resend_count), what);
    }
    vectors++;
  }
  fclose(index);
  check(vectors >= 10, "all vectors read");
  check(resend_vectors >= 2, "resend-request vectors read");

  es_encoder enc = {0};
  uint8_t small[ES_WIRE_MAX(4)];
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 3, wire, sizeof wire) == 0, "odd payload for s16 is refused");
  check(es_encode_audio(&enc, 16000, 9, 1, payload, 4, wire, sizeof wire) == 0, "unknown format is refused");
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 0, payload, 4, wire, sizeof wire) == 0, "zero channels are refused");
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 2 * 1025, wire, sizeof wire) == 0, "more than 1024 frames is refused");
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 4, small, sizeof small - 1) == 0, "a too-small output buffer is refused");
  check(enc.sequence == 0, "refused packets do not advance the sequence number");
  size_t n = es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 4, small, sizeof small);
  int zeros = 0;
  for (size_t i = 1; i + 1 < n; i++) zeros += small[i] == 0;
  check(n > 0 && small[0] == 0 && small[n - 1] == 0 && zeros == 0, "a wire frame is 0x00, COBS body without 0x00, 0x00");

  uint8_t request[ES_WIRE_MAX(0)];
  check(es_encode_resend_request(5, 0, request, sizeof request) == 0, "a resend request for 0 packets is refused");
  check(es_encode_resend_request(5, ES_MAX_RESEND_COUNT + 1, request, sizeof request) == 0, "a resend request for more than 64 packets is refused");
  check(es_encode_resend_request(5, 1, request, sizeof request - 1) == 0, "a too-small output buffer is refused for a resend request");
  check(es_encode_resend_request(5, 1, request, sizeof request) == 23, "a resend request is 23 bytes on the wire");

  test_rx();

  printf("1..%d\n", count);
  return failures == 0 ? 0 : 1;
}
