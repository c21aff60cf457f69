// -inf. WGSL has no infinity literal, and a constant expression that evaluates to inf is a
// shader-creation error, so the bits go through a function-scope var (a runtime value).
fn negInf() -> f32 {
  var bits = 0xff800000u;
  return bitcast<f32>(bits);
}
