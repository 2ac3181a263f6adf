// CSV (RFC 4180): fields separated by a delimiter, quoted fields may hold delimiters, newlines and
// doubled quotes (""), lines end in \n or \r\n. readCsv turns the numeric columns into a float32
// tensor and, optionally, one column into labels (numbers, or class names mapped to indices).

import '../../ops/tensor-methods.js';
import { DataError, ValueError, showValue } from '../../errors.js';
import type { Tensor } from '../../tensor/tensor.js';
import { tensor } from '../../tensor/create.js';
import { readText } from './text.js';

/** Options of parseCsv: delimiter and header detection. */
export interface CsvParseOptions {
  /** Field separator (default ','). */
  delimiter?: string;
  /** Whether the first row names the columns; 'auto' (default) guesses (see isHeaderRow). */
  header?: boolean | 'auto';
}

/** A parsed CSV file: the header, the rows as strings, and where each row starts. */
export interface CsvTable {
  /** Column names, or null when the file has no header. */
  header: string[] | null;
  /** The fields of each row. */
  rows: string[][];
  /** The 1-based line each row starts on, for error messages. */
  lines: number[];
}

const isNumeric = (s: string): boolean => s.trim() !== '' && Number.isFinite(Number(s));

/**
 * The guess behind header: 'auto': the first row is a header when some column holds text there and
 * a number in the second row (`name,age` over `ann,31`), or when it is all text above a row with numbers.
 */
export function isHeaderRow(first: readonly string[], second: readonly string[] | undefined): boolean {
  if (!second) return first.every((f) => !isNumeric(f));
  if (first.some((f, j) => !isNumeric(f) && isNumeric(second[j] ?? ''))) return true;
  return false;
}

/** Splits CSV text into rows of strings; `name` goes into error messages. */
export function parseCsv(text: string, opts: CsvParseOptions = {}, name = 'CSV data'): CsvTable {
  const delim = opts.delimiter ?? ',';
  if (delim.length !== 1 || delim === '"' || delim === '\n' || delim === '\r') {
    throw new ValueError('csv', `delimiter must be one character other than a quote or newline, got ${JSON.stringify(delim)}`);
  }
  const fail = (line: number, msg: string): never => {
    throw new DataError('csv', `${name}: line ${line}: ${msg}`);
  };
  const rows: string[][] = [];
  const lines: number[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let row: string[] = [];
  let rowLine = 1;
  const n = text.length;
  const endRow = (): void => {
    if (!(row.length === 1 && row[0] === '')) {
      rows.push(row);
      lines.push(rowLine);
    }
    row = [];
  };
  while (i <= n) {
    if (row.length === 0) rowLine = line;
    let field = '';
    if (text[i] === '"') {
      const startLine = line;
      i++;
      for (;;) {
        if (i >= n) fail(startLine, 'unterminated quoted field');
        const ch = text[i]!;
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        if (ch === '\n') line++;
        field += ch;
        i++;
      }
      if (i < n && text[i] !== delim && text[i] !== '\n' && text[i] !== '\r')
        fail(line, `unexpected ${JSON.stringify(text[i])} after a closing quote`);
    } else {
      const start = i;
      while (i < n && text[i] !== delim && text[i] !== '\n' && text[i] !== '\r') i++;
      field = text.slice(start, i);
      if (field.includes('"')) fail(line, `a quote inside an unquoted field: ${showValue(field)}`);
    }
    row.push(field);
    if (i >= n) {
      endRow();
      break;
    }
    const ch = text[i]!;
    if (ch === delim) {
      i++;
      if (i === n) {
        row.push('');
        endRow();
        break;
      }
      continue;
    }
    // newline: \n or \r\n (a lone \r counts as one too)
    i += ch === '\r' && text[i + 1] === '\n' ? 2 : 1;
    line++;
    endRow();
    if (i === n) break;
  }
  const width = rows[0]?.length ?? 0;
  rows.forEach((r, k) => {
    if (r.length !== width) fail(lines[k]!, `${r.length} fields, expected ${width} like the first row`);
  });
  const header = opts.header ?? 'auto';
  const hasHeader = rows.length > 0 && (header === 'auto' ? isHeaderRow(rows[0]!, rows[1]) : header);
  return hasHeader ? { header: rows[0]!, rows: rows.slice(1), lines: lines.slice(1) } : { header: null, rows, lines };
}

/** Options of readCsv: the CSV options plus the label column and the feature columns. */
export interface ReadCsvOptions extends CsvParseOptions {
  /** The column holding labels (a name from the header or an index); it is left out of x. */
  labelColumn?: string | number;
  /** Only these columns (names or indices) go into x; default every column but the label's. */
  columns?: readonly (string | number)[];
}

/** A CSV file as tensors: features x, labels y, column and class names. */
export interface CsvData {
  /** The names of x's columns (from the header, or '0', '1', ... without one). */
  columns: string[];
  /** [rows, columns] float32; an empty field is NaN. */
  x: Tensor;
  /** The label column: int32 when integral or class names, float32 otherwise. */
  y?: Tensor;
  /** When the labels are names: the sorted distinct names; y holds their indices. */
  classes?: string[];
  /** The file's header, or null without one. */
  header: string[] | null;
}

function columnIndex(name: string, spec: string | number, names: readonly string[], header: string[] | null): number {
  if (typeof spec === 'number') {
    if (!Number.isInteger(spec) || spec < 0 || spec >= names.length)
      throw new DataError('csv', `${name}: column ${spec} is out of range (${names.length} columns)`);
    return spec;
  }
  const j = names.indexOf(spec);
  if (j < 0)
    throw new DataError(
      'csv',
      `${name}: no column named '${spec}' (${header ? `columns: ${header.join(', ')}` : 'the file has no header row'})`,
    );
  return j;
}

/** Parses CSV text into tensors; see readCsv. */
export function csvToTensors(text: string, opts: ReadCsvOptions = {}, name = 'CSV data'): CsvData {
  const table = parseCsv(text, opts, name);
  const width = table.header?.length ?? table.rows[0]?.length ?? 0;
  const names = table.header ?? Array.from({ length: width }, (_, j) => String(j));
  const label = opts.labelColumn === undefined ? -1 : columnIndex(name, opts.labelColumn, names, table.header);
  const cols = opts.columns
    ? opts.columns.map((c) => columnIndex(name, c, names, table.header))
    : names.map((_, j) => j).filter((j) => j !== label);
  const n = table.rows.length;
  const x = new Float32Array(n * cols.length);
  table.rows.forEach((r, i) => {
    cols.forEach((j, k) => {
      const s = r[j]!.trim();
      let v: number;
      if (s === '' || /^[+-]?nan$/i.test(s)) v = NaN;
      else if (/^[+-]?inf(inity)?$/i.test(s)) v = s.startsWith('-') ? -Infinity : Infinity;
      else {
        v = Number(s);
        if (Number.isNaN(v))
          throw new DataError('csv', `${name}: line ${table.lines[i]}, column '${names[j]}': ${showValue(r[j])} is not a number`);
      }
      x[i * cols.length + k] = v;
    });
  });
  const out: CsvData = { columns: cols.map((j) => names[j]!), x: tensor(x, { shape: [n, cols.length] }), header: table.header };
  if (label >= 0) {
    const raw = table.rows.map((r) => r[label]!.trim());
    if (raw.every(isNumeric)) {
      const vals = raw.map(Number);
      out.y = tensor(vals.every(Number.isInteger) ? Int32Array.from(vals) : Float32Array.from(vals), { shape: [n] });
    } else {
      const classes = [...new Set(raw)].sort();
      const index = new Map(classes.map((c, k) => [c, k]));
      out.y = tensor(
        Int32Array.from(raw, (s) => index.get(s)!),
        { shape: [n] },
      );
      out.classes = classes;
    }
  }
  return out;
}

/** Reads a CSV file (gzip or plain) into a float32 tensor of its columns and optional labels. */
export function readCsv(path: string, opts: ReadCsvOptions = {}): CsvData {
  return csvToTensors(readText(path, 'csv'), opts, path);
}
