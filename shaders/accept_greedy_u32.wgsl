// Greedy tree acceptance on the GPU (DESIGN section 5; CPU oracle: src/verify/greedy.ts): from
// the root, the child whose token equals the current row's argmax (column 0 of the pass's
// top-k, ties to the lowest id) is accepted and becomes the current row; when no child matches,
// that argmax is the bonus token. A row whose argmax is NO_ID (all NaN, or a non-finite logit
// marked by the top-k's guard) ends the walk with NO_ID as the bonus: no token, which the CPU
// reports as a ModelError. One workgroup: invocation 0 walks (at most MAX_ROWS rows of a
// tiny tree), then all gather the result.
//#include common/accept_result.wgsl
//#include common/ranking.wgsl

override WG: u32 = 64;
override K: u32;          // top-k width of the pass

@group(0) @binding(0) var<uniform> params: AcceptParams;
@group(0) @binding(1) var<storage, read> topKIds: array<u32>;        // (maxRows, K) best ids per row
@group(0) @binding(2) var<storage, read> tree: array<u32>;           // (4, MAX_ROWS) see common/accept_result.wgsl
@group(0) @binding(3) var<storage, read_write> result: array<u32>;   // (HEADER + maxDepth + rows * K)

var<workgroup> walked: vec2<u32>; // (accepted count, bonus)

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) {
    var row = 0u;
    var count = 0u;
    pathRows[0] = 0u;
    loop {
      let want = topKIds[row * K];
      // BFS order: row r's children are nodes >= r (rows > r), tried in node order.
      var next = 0u;
      for (var i = row; i + 1u < params.rows; i++) {
        if (tree[TREE_PARENT + i] == row && tree[i] == want) {
          next = i + 1u;
          break;
        }
      }
      if (next == 0u || want == NO_ID) {
        walked = vec2<u32>(count, want);
        break;
      }
      count++;
      pathRows[count] = next;
      row = next;
    }
  }
  let w = workgroupUniformLoad(&walked);
  writeResult(lid, w.x, w.y, 0u);
}
