/*
 * Example firmware main loop: Raspberry Pi Pico (RP2040) + PDM MEMS microphone, streaming
 * 16 kHz s16 mono over USB-CDC in earshot serial protocol packets (../PROTOCOL.md), and sending
 * packets again when the host asks (resend requests, "Resending lost packets").
 *
 * NOT built in this repository: it needs the Pico SDK (pico_stdlib, tinyusb via pico_stdio_usb)
 * and ArmDeveloperEcosystem/microphone-library-for-pico (pdm_microphone.h), as in that library's
 * `usb_microphone` example. Wiring: PDM DAT on GPIO 2, CLK on GPIO 3.
 *
 * CMakeLists.txt (sketch):
 *   add_executable(earshot_mic rp2040_pdm_main.c ../earshot_encoder.c)
 *   target_link_libraries(earshot_mic pico_stdlib pico_pdm_microphone)
 *   pico_enable_stdio_usb(earshot_mic 1)
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "earshot_encoder.h"
#include "hardware/sync.h"
#include "pico/stdlib.h"
#include "pdm_microphone.h"

#define SAMPLE_RATE 16000
#define BLOCK_FRAMES 256 /* 16 ms per packet */
#define QUEUE_BLOCKS 8   /* 128 ms of slack between the PDM interrupt and USB */
#define HISTORY_BLOCKS ES_MAX_RESEND_COUNT /* 1 s of sent blocks kept for resends */
#define PENDING_RESENDS 4 /* requests waiting to be served */

static const struct pdm_microphone_config mic_config = {
    .gpio_data = 2,
    .gpio_clk = 3,
    .pio = pio0,
    .pio_sm = 0,
    .sample_rate = SAMPLE_RATE,
    .sample_buffer_size = BLOCK_FRAMES,
};

/* Filled by the PDM callback (interrupt context), drained by the main loop. Each block carries
 * the sequence number it was captured under, so a block dropped here leaves a hole in the
 * numbers and the host records a gap of exactly the lost duration. */
static int16_t queue[QUEUE_BLOCKS][BLOCK_FRAMES];
static uint32_t queue_seq[QUEUE_BLOCKS];
static int16_t discard[BLOCK_FRAMES];
static volatile uint32_t head = 0; /* blocks queued */
static volatile uint32_t tail = 0; /* blocks sent */
static volatile uint32_t next_seq = 0;
static volatile uint32_t overflow_blocks = 0;

static es_encoder encoder;
static uint8_t wire[ES_WIRE_MAX(BLOCK_FRAMES * 2)];

/* The last blocks sent, as PCM (32 KB of the 264 KB SRAM; the encoder is deterministic, so
 * re-encoding gives the same bytes as the first time). Block `seq` lives in slot
 * seq % HISTORY_BLOCKS: 2^32 is a multiple of 64, so slots run on across the wrap and looking a
 * block up is one compare. Blocks dropped on overflow never get here: a request skips them. */
static int16_t history[HISTORY_BLOCKS][BLOCK_FRAMES];
static uint32_t history_seq[HISTORY_BLOCKS];
static bool history_held[HISTORY_BLOCKS];

/* Resend requests not yet served, oldest first. Served one packet per loop turn, between live
 * blocks, so a 64-packet request never stalls the capture queue. */
static struct {
  uint32_t next;
  uint16_t left;
} pending[PENDING_RESENDS];
static unsigned pending_count = 0;
static es_rx rx;

static void on_pdm_samples_ready(void) {
  uint32_t seq = next_seq++;
  if (head - tail == QUEUE_BLOCKS) {
    /* USB is not keeping up: this block is lost (its sequence number stays unused). */
    pdm_microphone_read(discard, BLOCK_FRAMES);
    overflow_blocks++;
    return;
  }
  pdm_microphone_read(queue[head % QUEUE_BLOCKS], BLOCK_FRAMES);
  queue_seq[head % QUEUE_BLOCKS] = seq;
  head++;
}

static void write_all(const uint8_t *data, size_t len) {
  for (size_t i = 0; i < len; i++) putchar_raw(data[i]); /* stdio over USB-CDC, binary-safe */
}

static void send_block(const int16_t *block, uint32_t seq) {
  encoder.sequence = seq;
  /* RP2040 is little-endian: the int16 block is already s16le. */
  size_t n = es_encode_audio(&encoder, SAMPLE_RATE, ES_FORMAT_S16LE, 1, (const uint8_t *)block, BLOCK_FRAMES * 2, wire, sizeof wire);
  write_all(wire, n);
}

/* Drains the host's bytes without blocking. A request arriving while all slots are busy is
 * dropped: the host asks again while its hole is open. */
static void read_requests(void) {
  int c;
  uint32_t first;
  uint16_t count;
  while ((c = getchar_timeout_us(0)) >= 0) {
    if (es_rx_push(&rx, (uint8_t)c, &first, &count) && pending_count < PENDING_RESENDS) {
      pending[pending_count].next = first;
      pending[pending_count].left = count;
      pending_count++;
    }
  }
}

/* Sends the next requested packet still held; returns false when there was none to send. */
static bool resend_one(void) {
  while (pending_count > 0) {
    uint32_t seq = pending[0].next++;
    if (--pending[0].left == 0) {
      memmove(&pending[0], &pending[1], (pending_count - 1) * sizeof pending[0]);
      pending_count--;
    }
    uint32_t slot = seq % HISTORY_BLOCKS;
    if (!history_held[slot] || history_seq[slot] != seq) continue; /* too old, dropped or not sent yet */
    uint32_t live = encoder.sequence;
    send_block(history[slot], seq); /* its original number: it fills the host's hole */
    encoder.sequence = live;        /* status packets keep naming the last live packet */
    return true;
  }
  return false;
}

int main(void) {
  stdio_init_all();
  stdio_set_translate_crlf(&stdio_usb, false);
  if (pdm_microphone_init(&mic_config) < 0) {
    for (;;) tight_loop_contents();
  }
  pdm_microphone_set_samples_ready_handler(on_pdm_samples_ready);
  pdm_microphone_start();

  for (;;) {
    read_requests();
    if (overflow_blocks != 0) {
      uint32_t saved = save_and_disable_interrupts();
      uint32_t blocks = overflow_blocks;
      overflow_blocks = 0;
      restore_interrupts(saved);
      size_t n = es_encode_status(&encoder, ES_STATUS_OVERFLOW, blocks * BLOCK_FRAMES, 0, wire, sizeof wire);
      write_all(wire, n);
    }
    bool idle = true;
    if (tail != head) {
      uint32_t slot = tail % QUEUE_BLOCKS, seq = queue_seq[slot];
      send_block(queue[slot], seq);
      /* Copied before tail++: until then the PDM interrupt leaves this queue slot alone. */
      memcpy(history[seq % HISTORY_BLOCKS], queue[slot], sizeof queue[slot]);
      history_seq[seq % HISTORY_BLOCKS] = seq;
      history_held[seq % HISTORY_BLOCKS] = true;
      tail++;
      idle = false;
    }
    if (resend_one()) idle = false;
    if (idle) tight_loop_contents();
  }
}
