// KV-cache compaction after verification (DESIGN section 3, step 4): the accepted path's rows
// sit at slots prefix + path[j]; row path[j] moves to slot prefix + j, in K and V, for every
// layer of a buffer (src/kv/cache.ts). It copies u32 words, whatever they hold: an f32, or two
// f16 of an f16 cache (common/kv_load.wgsl).
//
// A buffer holds FULL_LAYERS full-context layers LAYER_STRIDE words apart, then ring layers
// (sliding-window layers whose cache is a ring of KV_RING slots: logical slot s stored at
// s % KV_RING) RING_STRIDE words apart. Slots here are logical; a ring layer maps them. A ring
// holds more slots than a pass has rows, so the slots prefix..prefix + maxRows - 1 of one pass
// are distinct in it too, and the ordering argument below holds in logical slots.
//
// Sources and destinations overlap (path [0, 2, 3] moves 2 -> 1 and 3 -> 2). Each thread owns
// one word offset e within a slot of one layer and performs the moves in order j = 0, 1, ...;
// with path strictly increasing and path[j] >= j (checked on the CPU; a root-to-node path in BFS
// order has both), move j never overwrites a source of a later move (path[j'] > path[j] >= j
// for j' > j) and reads a source no earlier move wrote (earlier destinations are < j <= path[j]).
// Threads touch disjoint offsets, layers disjoint ranges, so no synchronisation is needed.
//
// Dispatch: (ceil(ROW_WIDTH / 64), layers of the buffer): one per K/V buffer pair, whatever the
// layer count and however many of them are rings.

override ROW_WIDTH: u32;        // words per slot: N_KV_HEADS * HEAD_DIM (f32), or half that rounded up (f16 pairs)
override LAYER_STRIDE: u32;     // words from one full layer's slot 0 to the next layer's
override FULL_LAYERS: u32;      // the buffer's leading full layers; the rest are rings
override RING_STRIDE: u32 = 0u; // words from one ring layer's slot 0 to the next one's
override KV_RING: u32 = 0u;     // slots of a ring layer

struct Compact { prefix: u32, count: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<uniform> params: Compact;
@group(0) @binding(1) var<storage, read> path: array<u32>;           // (maxTreeRows) pass rows to keep, path[0] = 0
@group(0) @binding(2) var<storage, read_write> k_cache: array<u32>;  // (FULL_LAYERS, LAYER_STRIDE) then (rings, RING_STRIDE): (slots, ROW_WIDTH) per layer
@group(0) @binding(3) var<storage, read_write> v_cache: array<u32>;  // the same layout

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  if (e >= ROW_WIDTH) { return; }
  let ring = gid.y >= FULL_LAYERS;
  let layer = select(gid.y * LAYER_STRIDE, FULL_LAYERS * LAYER_STRIDE + (gid.y - FULL_LAYERS) * RING_STRIDE, ring);
  let slots = select(0xffffffffu, KV_RING, ring); // a full layer's logical slots stay below the modulus
  for (var j = 0u; j < params.count; j++) {
    let src = layer + ((params.prefix + path[j]) % slots) * ROW_WIDTH + e;
    let dst = layer + ((params.prefix + j) % slots) * ROW_WIDTH + e;
    k_cache[dst] = k_cache[src];
    v_cache[dst] = v_cache[src];
  }
}
