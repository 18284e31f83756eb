// Each rank evaluates its shard and builds a table of results; rank 0 prints all of them.
//
//   npx onet run -n 3 -- node examples/node/table.mjs
import {
  Field,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import { init } from 'opennetworks';

// One schema for every rank, so that a rank with no rows or no nulls still matches the others.
const schema = new Schema([
  new Field('rank', new Int32(), false),
  new Field('task', new Utf8(), false),
  new Field('accuracy', new Float64(), true), // null: the task was skipped
  new Field('loss', new Float64(), true),
]);

/** A Table of `schema` from row objects, every column typed by the schema. */
function tableOf(rows) {
  const children = schema.fields.map(
    (f) =>
      vectorFromArray(
        rows.map((r) => r[f.name]),
        f.type,
      ).data[0],
  );
  return new Table(
    new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, nullCount: 0, children })),
  );
}

const comm = await init();
const tasks = ['arc', 'boolq', 'hellaswag', 'piqa', 'winogrande'].filter((_, i) => i % comm.world === comm.rank);
const rows = tasks.map((task, i) => ({
  rank: comm.rank,
  task,
  accuracy: task === 'piqa' ? null : 0.5 + ((comm.rank * 7 + i * 3) % 10) / 25,
  loss: 1 + ((comm.rank * 5 + i) % 7) / 10,
}));

const all = await comm.allgatherTable(tableOf(rows));
if (comm.rank === 0) {
  console.log(`${all.numRows} results from ${comm.world} ranks:`);
  for (const r of all)
    console.log(
      `  rank ${r.rank}  ${r.task.padEnd(11)} accuracy ${r.accuracy?.toFixed(3) ?? 'skipped'}  loss ` +
        `${r.loss.toFixed(2)}`,
    );
}
await comm.close();
