// Shared by the acceptance walks (accept_greedy_u32.wgsl, accept_sample_f32.wgsl; DESIGN
// section 3, step 3): their parameters, the tree they walk and the small result the CPU reads.
// A kernel including this declares `params`, `topKIds`, `tree` and `result` (bindings) and the
// overrides WG and K; writeResult reads them.

//#include common/accept_params.wgsl

const MAX_ROWS: u32 = 128u;
// tree (4, MAX_ROWS) u32 sections: node tokens, node parent rows (parent node + 1), each row's
// slot in the q buffer (sampled drafts), then the walk's uniforms as raw u32 draws.
const TREE_PARENT: u32 = MAX_ROWS;
const TREE_QSLOT: u32 = 2u * MAX_ROWS;
const TREE_UNIFORM: u32 = 3u * MAX_ROWS;

// result (u32): [0] accepted nodes, [1] bonus token, [2] uniforms used, [3] unused, then the
// accepted node indices (maxDepth slots), then top-k ids (out rows, K): every row (allRows) or
// the path rows (root, then each accepted row).
const HEADER: u32 = 4u;

var<workgroup> pathRows: array<u32, MAX_ROWS>; // the root (0), then the accepted rows in path order

// Writes the result of a walk that accepted `count` rows (pathRows[1..count]) and drew `bonus`.
// Every invocation calls it; pathRows must be complete (a barrier after its last write).
fn writeResult(lid: u32, count: u32, bonus: u32, draws: u32) {
  if (lid == 0u) {
    result[0] = count;
    result[1] = bonus;
    result[2] = draws;
    result[3] = 0u;
  }
  for (var j = lid; j < count; j += WG) {
    result[HEADER + j] = pathRows[j + 1u] - 1u;
  }
  let outRows = select(count + 1u, params.rows, params.allRows == 1u);
  let base = HEADER + params.maxDepth;
  for (var i = lid; i < outRows * K; i += WG) {
    let r = i / K;
    let src = select(pathRows[r], r, params.allRows == 1u);
    result[base + i] = topKIds[src * K + i % K];
  }
}
