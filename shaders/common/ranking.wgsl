// Order of (value, token id) pairs used by argmax and top-k: a larger value first; equal values
// by the lower id. This is the greedy rule of DESIGN section 5, identical for plain decoding and
// tree verification. NaN compares false both ways, so a NaN logit never wins.

// Ids of empty slots are 0xffffffff, so any real element, even a -inf logit, ranks before an
// empty slot.
const NO_ID: u32 = 0xffffffffu;
//#include common/neg_inf.wgsl

fn ranksBefore(va: f32, ia: u32, vb: f32, ib: u32) -> bool {
  return va > vb || (va == vb && ia < ib);
}
