// tanh(y) = sign(y) (1 - 2 / (exp(2|y|) + 1)), written with exp: exact at both ends (exp
// overflows to inf, giving +-1), absolute error within a few f32 ulp of 1 elsewhere. Gemma's
// tanh-GELU and soft-capping use it.
fn tanh_exp(y: f32) -> f32 {
  let t = 1.0 - 2.0 / (exp(2.0 * abs(y)) + 1.0);
  return select(t, -t, y < 0.0);
}
