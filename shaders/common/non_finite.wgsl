// Exponent bits all ones: infinity or NaN, tested on the bits because float comparisons may
// assume finite values.
fn isNonFinite(x: f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u;
}
