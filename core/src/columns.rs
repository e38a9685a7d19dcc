//! The attributes of an in-memory layer as columns: one typed vector per field instead of a
//! `Vec<Value>` per feature with a heap `String` per text value (a feature of ten fields cost
//! 320 bytes of `Value`s before its strings). Text repeated across features (codes, classes,
//! communes) is dictionary-encoded with the narrowest code that holds the dictionary; mostly
//! distinct text (addresses, certificate numbers) lives in one arena per column. A feature's
//! values are materialised when a request asks for them; equality tests read the columns.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};
use rustc_hash::FxHashMap;

use crate::feature::Value;
use crate::mvt::{Cell, Tag};

/// The attribute table of a layer: `len` rows of values.
pub struct Columns {
    len: usize,
    layout: Layout,
    /// Per field of dictionary text, made on first use: for each word (and null, last) a row
    /// holding only that word. A map styled by one class field (land-use code, soil group,
    /// road class) then borrows its rows instead of allocating one per feature drawn.
    word_rows: Vec<std::sync::OnceLock<WordRows>>,
}

/// By dictionary code (null last), a row holding only that word.
type WordRows = Box<[Box<[Value]>]>;

enum Layout {
    Columns(Vec<Column>),
    /// Rows of different lengths (not a table): kept as they came.
    Rows(Vec<Box<[Value]>>),
}

enum Column {
    /// Every value null.
    Null,
    /// Text by code into `words`; the largest code of the width is null.
    Words {
        words: Vec<Box<str>>,
        codes: Codes,
    },
    /// Text in one arena: row i is `text[ends[i - 1]..ends[i]]`; null rows in `nulls`.
    Arena {
        text: String,
        ends: Vec<u32>,
        nulls: Bits,
    },
    /// Numbers, dates or times by code into `values` (distinct, none null), when few are
    /// distinct: sheet and parcel numbers, areas to a tenth of a square metre, issue dates.
    /// The largest code of the width is null. Dates and times also keep each value's text,
    /// what a tile sends, so tiles borrow it instead of formatting it per feature.
    Scalars {
        values: Vec<Value>,
        texts: Option<Box<[Box<str>]>>,
        codes: Codes,
    },
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Date(Vec<Option<NaiveDate>>),
    DateTime(Vec<Option<DateTime<Utc>>>),
    /// Values of more than one type: kept as they came.
    Mixed(Vec<Value>),
}

/// Dictionary codes, as narrow as the dictionary allows.
enum Codes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Codes {
    /// Bytes a code takes for `n` words plus null (the width's largest value).
    fn width(n: usize) -> usize {
        if n < usize::from(u8::MAX) {
            1
        } else if n < usize::from(u16::MAX) {
            2
        } else {
            4
        }
    }

    /// Codes for `n` words plus null, `rows` of them to come.
    fn for_words(n: usize, rows: usize) -> Self {
        match Codes::width(n) {
            1 => Codes::U8(Vec::with_capacity(rows)),
            2 => Codes::U16(Vec::with_capacity(rows)),
            _ => Codes::U32(Vec::with_capacity(rows)),
        }
    }

    fn push(&mut self, code: Option<u32>) {
        // The width was chosen so every code fits (`for_words`).
        match self {
            Codes::U8(v) => v.push(code.map_or(u8::MAX, |c| c as u8)),
            Codes::U16(v) => v.push(code.map_or(u16::MAX, |c| c as u16)),
            Codes::U32(v) => v.push(code.unwrap_or(u32::MAX)),
        }
    }

    fn get(&self, row: usize) -> Option<usize> {
        let (code, null) = match self {
            Codes::U8(v) => (u32::from(v[row]), u32::from(u8::MAX)),
            Codes::U16(v) => (u32::from(v[row]), u32::from(u16::MAX)),
            Codes::U32(v) => (v[row], u32::MAX),
        };
        (code != null).then_some(code as usize)
    }

    fn bytes(&self) -> usize {
        match self {
            Codes::U8(v) => v.capacity(),
            Codes::U16(v) => v.capacity() * 2,
            Codes::U32(v) => v.capacity() * 4,
        }
    }
}

/// A key equal exactly when two values of one scalar kind are (`Value`'s `==`, floats by
/// their bits: what a tile sends); `None` for null, text and booleans (never coded: a
/// boolean column is a byte a row already).
fn scalar_key(v: &Value) -> Option<(i64, u32)> {
    use chrono::Datelike;
    match v {
        Value::Int(i) => Some((*i, 0)),
        Value::Float(f) => Some((f.to_bits() as i64, 0)),
        Value::Date(d) => Some((i64::from(d.num_days_from_ce()), 0)),
        Value::DateTime(t) => Some((t.timestamp(), t.timestamp_subsec_nanos())),
        Value::Null | Value::Text(_) | Value::Bool(_) => None,
    }
}

/// A bit per row; empty when no bit is set.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, row: usize) {
        let word = row / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (row % 64);
    }

    fn get(&self, row: usize) -> bool {
        self.0
            .get(row / 64)
            .is_some_and(|w| w & (1 << (row % 64)) != 0)
    }
}

impl Column {
    /// The column of field `field` of `rows` (each at least `field + 1` long).
    fn build(rows: &[Vec<Value>], field: usize) -> Column {
        let values = || rows.iter().map(|r| &r[field]);
        let Some(first) = values().find(|v| !v.is_null()) else {
            return Column::Null;
        };
        let same_kind = values()
            .all(|v| v.is_null() || std::mem::discriminant(v) == std::mem::discriminant(first));
        if !same_kind {
            return Column::Mixed(values().cloned().collect());
        }
        macro_rules! typed {
            ($variant:ident) => {
                Column::$variant(
                    values()
                        .map(|v| match v {
                            Value::$variant(x) => Some(x.clone()),
                            _ => None,
                        })
                        .collect(),
                )
            };
        }
        if let Some(column) = Column::scalars(rows.len(), values, first) {
            return column;
        }
        match first {
            Value::Int(_) => typed!(Int),
            Value::Float(_) => typed!(Float),
            Value::Bool(_) => typed!(Bool),
            Value::Date(_) => typed!(Date),
            Value::DateTime(_) => typed!(DateTime),
            Value::Text(_) => Column::text(rows.len(), values),
            Value::Null => Column::Null,
        }
    }

    /// The column as [`Column::Scalars`] when that is smaller than the typed vector (counting
    /// stops as soon as it cannot be).
    fn scalars<'a, I: Iterator<Item = &'a Value>>(
        rows: usize,
        values: impl Fn() -> I,
        first: &Value,
    ) -> Option<Column> {
        use std::mem::size_of;
        let typed_bytes = rows
            * match first {
                Value::Int(_) => size_of::<Option<i64>>(),
                Value::Float(_) => size_of::<Option<f64>>(),
                Value::Date(_) => size_of::<Option<NaiveDate>>(),
                Value::DateTime(_) => size_of::<Option<DateTime<Utc>>>(),
                _ => return None,
            };
        let mut codes: FxHashMap<(i64, u32), u32> = FxHashMap::default();
        let mut distinct = Vec::new();
        for v in values() {
            let Some(key) = scalar_key(v) else { continue };
            if let std::collections::hash_map::Entry::Vacant(e) = codes.entry(key) {
                e.insert(distinct.len() as u32);
                distinct.push(v.clone());
                // Words of a dictionary cost a `Value` each, plus at least a byte a row.
                if distinct.len() * size_of::<Value>() + rows >= typed_bytes {
                    return None;
                }
            }
        }
        if distinct.len() * size_of::<Value>() + rows * Codes::width(distinct.len()) >= typed_bytes
        {
            return None;
        }
        let mut column_codes = Codes::for_words(distinct.len(), rows);
        for v in values() {
            column_codes.push(scalar_key(v).map(|k| codes[&k]));
        }
        distinct.shrink_to_fit();
        let texts = matches!(first, Value::Date(_) | Value::DateTime(_))
            .then(|| distinct.iter().map(|v| v.to_string().into()).collect());
        Some(Column::Scalars {
            values: distinct,
            texts,
            codes: column_codes,
        })
    }

    /// A text column: dictionary codes or an arena, whichever is smaller.
    fn text<'a, I: Iterator<Item = &'a Value>>(rows: usize, values: impl Fn() -> I) -> Column {
        let mut dictionary: FxHashMap<&str, u32> = FxHashMap::default();
        let mut dictionary_bytes = 0usize;
        let mut arena_bytes = 0usize;
        for v in values() {
            if let Value::Text(s) = v {
                arena_bytes += s.len();
                let next = dictionary.len() as u32;
                dictionary.entry(s).or_insert_with(|| {
                    dictionary_bytes += s.len() + std::mem::size_of::<Box<str>>();
                    next
                });
            }
        }
        let as_words = dictionary_bytes + rows * Codes::width(dictionary.len());
        let as_arena = arena_bytes + rows * 4;
        if as_words <= as_arena || arena_bytes > u32::MAX as usize {
            let mut words = vec![Box::<str>::from(""); dictionary.len()];
            for (w, &code) in &dictionary {
                words[code as usize] = (*w).into();
            }
            let mut codes = Codes::for_words(words.len(), rows);
            for v in values() {
                codes.push(v.as_str().map(|s| dictionary[s]));
            }
            Column::Words { words, codes }
        } else {
            let mut text = String::with_capacity(arena_bytes);
            let mut ends = Vec::with_capacity(rows);
            let mut nulls = Bits::default();
            for (row, v) in values().enumerate() {
                match v.as_str() {
                    Some(s) => text.push_str(s),
                    None => nulls.set(row),
                }
                ends.push(text.len() as u32);
            }
            Column::Arena { text, ends, nulls }
        }
    }

    /// For a dictionary-encoded column, the number of words and the codes.
    fn dictionary(&self) -> Option<(usize, &Codes)> {
        match self {
            Column::Words { words, codes } => Some((words.len(), codes)),
            Column::Scalars { values, codes, .. } => Some((values.len(), codes)),
            _ => None,
        }
    }

    /// Word `code` of a dictionary-encoded column.
    fn word(&self, code: usize) -> Value {
        match self {
            Column::Words { words, .. } => Value::Text(words[code].to_string()),
            Column::Scalars { values, .. } => values[code].clone(),
            _ => Value::Null,
        }
    }

    fn text_at(&self, row: usize) -> Option<&str> {
        match self {
            Column::Words { words, codes } => codes.get(row).map(|c| &*words[c]),
            Column::Arena { text, ends, nulls } => {
                if nulls.get(row) {
                    return None;
                }
                let start = if row == 0 { 0 } else { ends[row - 1] as usize };
                Some(&text[start..ends[row] as usize])
            }
            _ => None,
        }
    }

    fn value(&self, row: usize) -> Value {
        fn or_null<T: Clone>(v: &Option<T>, f: impl Fn(T) -> Value) -> Value {
            v.clone().map_or(Value::Null, f)
        }
        match self {
            Column::Null => Value::Null,
            Column::Words { .. } | Column::Arena { .. } => self
                .text_at(row)
                .map_or(Value::Null, |s| Value::Text(s.to_owned())),
            Column::Scalars { values, codes, .. } => {
                codes.get(row).map_or(Value::Null, |c| values[c].clone())
            }
            Column::Int(v) => or_null(&v[row], Value::Int),
            Column::Float(v) => or_null(&v[row], Value::Float),
            Column::Bool(v) => or_null(&v[row], Value::Bool),
            Column::Date(v) => or_null(&v[row], Value::Date),
            Column::DateTime(v) => or_null(&v[row], Value::DateTime),
            Column::Mixed(v) => v[row].clone(),
        }
    }

    /// The value of `row` as a tile tag, text borrowed, with its dictionary code if coded.
    fn tag(&self, row: usize) -> Tag<'_> {
        fn coded(code: usize, cell: Cell<'_>) -> Tag<'_> {
            Tag {
                cell,
                code: Some(code as u32),
            }
        }
        match self {
            Column::Null => Cell::Null.into(),
            Column::Words { words, codes } => codes
                .get(row)
                .map_or(Cell::Null.into(), |c| coded(c, Cell::Text(&words[c]))),
            Column::Arena { .. } => self.text_at(row).map_or(Cell::Null, Cell::Text).into(),
            Column::Scalars {
                values,
                texts,
                codes,
            } => codes.get(row).map_or(Cell::Null.into(), |c| {
                let cell = match texts {
                    Some(texts) => Cell::Formatted(Cow::Borrowed(&texts[c])),
                    None => Cell::of(&values[c]),
                };
                coded(c, cell)
            }),
            Column::Int(v) => v[row].map_or(Cell::Null, Cell::Int).into(),
            Column::Float(v) => v[row]
                .map_or(Cell::Null, |f| Cell::Float(f.to_bits()))
                .into(),
            Column::Bool(v) => v[row].map_or(Cell::Null, Cell::Bool).into(),
            Column::Date(_) | Column::DateTime(_) => match self.value(row) {
                Value::Null => Cell::Null.into(),
                v => Cell::Formatted(Cow::Owned(v.to_string())).into(),
            },
            Column::Mixed(v) => Cell::of(&v[row]).into(),
        }
    }

    /// `self.value(row) == *want`, without materialising text.
    fn equals(&self, row: usize, want: &Value) -> bool {
        match self {
            Column::Words { .. } | Column::Arena { .. } => match (self.text_at(row), want) {
                (Some(s), Value::Text(w)) => s == w,
                (None, Value::Null) => true,
                _ => false,
            },
            Column::Scalars { values, codes, .. } => match codes.get(row) {
                Some(c) => values[c] == *want,
                None => want.is_null(),
            },
            Column::Mixed(v) => v[row] == *want,
            _ => self.value(row) == *want,
        }
    }

    fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        match self {
            Column::Null => 0,
            Column::Words { words, codes } => {
                words
                    .iter()
                    .map(|w| w.len() + size_of::<Box<str>>())
                    .sum::<usize>()
                    + codes.bytes()
            }
            Column::Arena { text, ends, nulls } => {
                text.capacity() + ends.capacity() * 4 + nulls.0.capacity() * 8
            }
            Column::Scalars {
                values,
                texts,
                codes,
            } => {
                values.capacity() * size_of::<Value>()
                    + texts
                        .iter()
                        .flatten()
                        .map(|t| t.len() + size_of::<Box<str>>())
                        .sum::<usize>()
                    + codes.bytes()
            }
            Column::Int(v) => v.capacity() * size_of::<Option<i64>>(),
            Column::Float(v) => v.capacity() * size_of::<Option<f64>>(),
            Column::Bool(v) => v.capacity(),
            Column::Date(v) => v.capacity() * size_of::<Option<NaiveDate>>(),
            Column::DateTime(v) => v.capacity() * size_of::<Option<DateTime<Utc>>>(),
            Column::Mixed(v) => v
                .iter()
                .map(|x| size_of::<Value>() + x.as_str().map_or(0, str::len))
                .sum(),
        }
    }
}

/// The tags of one row ([`Columns::tags`]).
pub struct Tags<'a>(TagsOf<'a>);

enum TagsOf<'a> {
    Columns(std::slice::Iter<'a, Column>, usize),
    Row(std::slice::Iter<'a, Value>),
}

impl<'a> Iterator for Tags<'a> {
    type Item = Tag<'a>;

    fn next(&mut self) -> Option<Tag<'a>> {
        match &mut self.0 {
            TagsOf::Columns(columns, row) => columns.next().map(|c| c.tag(*row)),
            TagsOf::Row(values) => values.next().map(|v| Cell::of(v).into()),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            TagsOf::Columns(columns, _) => columns.size_hint(),
            TagsOf::Row(values) => values.size_hint(),
        }
    }
}

impl ExactSizeIterator for Tags<'_> {}

impl Columns {
    /// The table of `rows`, consumed: columns when every row has the same length.
    pub fn build(rows: Vec<Vec<Value>>) -> Self {
        let len = rows.len();
        let width = rows.first().map_or(0, Vec::len);
        if rows.iter().any(|r| r.len() != width) {
            return Self {
                len,
                layout: Layout::Rows(rows.into_iter().map(Vec::into_boxed_slice).collect()),
                word_rows: Vec::new(),
            };
        }
        let columns = (0..width)
            .map(|field| Column::build(&rows, field))
            .collect();
        Self {
            len,
            layout: Layout::Columns(columns),
            word_rows: (0..width).map(|_| std::sync::OnceLock::new()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values of row `row`, in field order.
    pub fn row(&self, row: usize) -> Vec<Value> {
        match &self.layout {
            Layout::Columns(columns) => columns.iter().map(|c| c.value(row)).collect(),
            Layout::Rows(rows) => rows[row].to_vec(),
        }
    }

    /// [`Columns::row_reading`], borrowed when the one field read is dictionary-encoded.
    pub fn row_reading_cow(&self, row: usize, fields: &[usize]) -> Cow<'_, [Value]> {
        if let (Layout::Columns(columns), &[field]) = (&self.layout, fields) {
            if let Some((column, (words, codes))) =
                columns.get(field).and_then(|c| Some((c, c.dictionary()?)))
            {
                let rows = self.word_rows[field].get_or_init(|| {
                    let row = |v: Value| {
                        let mut r = vec![Value::Null; columns.len()];
                        r[field] = v;
                        r.into_boxed_slice()
                    };
                    (0..words)
                        .map(|code| row(column.word(code)))
                        .chain([row(Value::Null)])
                        .collect()
                });
                return Cow::Borrowed(&rows[codes.get(row).unwrap_or(words)]);
            }
        }
        Cow::Owned(self.row_reading(row, fields))
    }

    /// Row `row` with only `fields` read, every other value `Null`.
    pub fn row_reading(&self, row: usize, fields: &[usize]) -> Vec<Value> {
        let width = match &self.layout {
            Layout::Columns(columns) => columns.len(),
            Layout::Rows(rows) => rows[row].len(),
        };
        let mut values = vec![Value::Null; width];
        for &f in fields {
            if let Some(v) = values.get_mut(f) {
                *v = self.value(row, f);
            }
        }
        values
    }

    /// The value of field `field` in row `row` (`Null` past the row's end).
    pub fn value(&self, row: usize, field: usize) -> Value {
        match &self.layout {
            Layout::Columns(columns) => columns.get(field).map_or(Value::Null, |c| c.value(row)),
            Layout::Rows(rows) => rows[row].get(field).cloned().unwrap_or(Value::Null),
        }
    }

    /// The values of row `row` as tile tags in field order, text borrowed (no copies).
    pub fn tags(&self, row: usize) -> Tags<'_> {
        Tags(match &self.layout {
            Layout::Columns(columns) => TagsOf::Columns(columns.iter(), row),
            Layout::Rows(rows) => TagsOf::Row(rows[row].iter()),
        })
    }

    /// Whether field `field` of row `row` equals `want` (as `Value`'s `==`), reading text in
    /// place.
    pub fn equals(&self, row: usize, field: usize, want: &Value) -> bool {
        match &self.layout {
            Layout::Columns(columns) => columns.get(field).is_some_and(|c| c.equals(row, want)),
            Layout::Rows(rows) => rows[row].get(field) == Some(want),
        }
    }

    /// Heap bytes held, for metrics and the index budget.
    pub fn heap_bytes(&self) -> usize {
        match &self.layout {
            Layout::Columns(columns) => columns.iter().map(Column::heap_bytes).sum(),
            Layout::Rows(rows) => rows
                .iter()
                .map(|r| {
                    r.len() * std::mem::size_of::<Value>()
                        + r.iter()
                            .map(|v| v.as_str().map_or(0, str::len))
                            .sum::<usize>()
                })
                .sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32) -> Value {
        Value::Date(NaiveDate::from_ymd_opt(y, 1, 2).unwrap())
    }

    #[test]
    fn every_row_reads_back_as_it_came() {
        let rows: Vec<Vec<Value>> = (0..1000)
            .map(|i: i64| {
                vec![
                    // Few words: dictionary.
                    Value::Text(["LUC", "ONT", "CLN"][i as usize % 3].into()),
                    // Distinct text: arena, with nulls and empty strings.
                    match i % 7 {
                        0 => Value::Null,
                        1 => Value::Text(String::new()),
                        _ => Value::Text(format!("Thửa {i}, ấp Phú Thạnh")),
                    },
                    if i % 5 == 0 {
                        Value::Null
                    } else {
                        Value::Int(i * 3)
                    },
                    Value::Float(i as f64 / 7.0),
                    if i % 2 == 0 {
                        date(2000 + i as i32 % 20)
                    } else {
                        Value::Null
                    },
                    Value::Null,
                    // Two kinds in one field: kept as they came.
                    if i % 3 == 0 {
                        Value::Int(i)
                    } else {
                        Value::Text(i.to_string())
                    },
                    Value::Bool(i % 4 == 0),
                ]
            })
            .collect();
        let table = Columns::build(rows.clone());
        let Layout::Columns(columns) = &table.layout else {
            panic!("a table")
        };
        assert!(matches!(
            columns[0],
            Column::Words {
                codes: Codes::U8(_),
                ..
            }
        ));
        assert!(matches!(columns[1], Column::Arena { .. }));
        assert!(matches!(columns[5], Column::Null));
        assert!(matches!(columns[6], Column::Mixed(_)));
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(&table.row(i), row, "row {i}");
            for (field, v) in row.iter().enumerate() {
                assert_eq!(&table.value(i, field), v);
                assert!(table.equals(i, field, v), "row {i} field {field}");
                assert!(table.tags(i).nth(field).map(|t| t.cell) == Some(Cell::of(v)));
                assert!(!table.equals(i, field, &Value::Text("ONT?".into())));
            }
        }
        for (i, row) in rows.iter().enumerate().step_by(7) {
            let read = table.row_reading(i, &[1, 4]);
            for (field, v) in read.iter().enumerate() {
                let want = if field == 1 || field == 4 {
                    &row[field]
                } else {
                    &Value::Null
                };
                assert_eq!(v, want, "row {i} field {field}");
            }
            // One dictionary field: a shared row, the same values.
            let shared = table.row_reading_cow(i, &[0]);
            assert!(matches!(shared, Cow::Borrowed(_)));
            assert_eq!(&*shared, &table.row_reading(i, &[0])[..]);
            assert_eq!(
                &*table.row_reading_cow(i, &[1]),
                &table.row_reading(i, &[1])[..]
            );
        }
        assert!(table.equals(1, 0, &Value::Text("ONT".into())));
        assert!(!table.equals(1, 0, &Value::Null));
        assert!(table.equals(0, 1, &Value::Null));
        assert!(!table.equals(1, 1, &Value::Null), "empty text is not null");
        // Under half of rows of values, strings aside.
        assert!(table.heap_bytes() * 2 < rows.len() * 8 * std::mem::size_of::<Value>());
    }

    #[test]
    fn few_distinct_numbers_and_dates_are_coded() {
        let time = |d: i64| Value::DateTime(DateTime::from_timestamp(d * 86_400, 0).unwrap());
        let rows: Vec<Vec<Value>> = (0..3000)
            .map(|i: i64| {
                vec![
                    // Sheet numbers: 334 distinct, two-byte codes; nulls.
                    if i % 11 == 0 {
                        Value::Null
                    } else {
                        Value::Int(i % 334 + 1)
                    },
                    // Signed zeros and a tenth of a square metre: kept to the bit.
                    Value::Float([0.0, -0.0, 1407.7][i as usize % 3]),
                    time(10_000 + i % 40),
                    // Distinct: the typed vector is smaller.
                    Value::Int(i * 1_000_003),
                ]
            })
            .collect();
        let table = Columns::build(rows.clone());
        let Layout::Columns(columns) = &table.layout else {
            panic!("a table")
        };
        assert!(matches!(
            columns[0],
            Column::Scalars {
                codes: Codes::U16(_),
                ..
            }
        ));
        assert!(matches!(
            columns[1],
            Column::Scalars {
                codes: Codes::U8(_),
                ..
            }
        ));
        assert!(matches!(columns[2], Column::Scalars { .. }));
        assert!(matches!(columns[3], Column::Int(_)));
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(&table.row(i), row, "row {i}");
            let (Value::Float(want), Value::Float(got)) = (&row[1], table.value(i, 1)) else {
                panic!("a float")
            };
            assert_eq!(want.to_bits(), got.to_bits(), "row {i}");
            for (field, v) in row.iter().enumerate() {
                assert!(table.equals(i, field, v), "row {i} field {field}");
                assert!(table.tags(i).nth(field).map(|t| t.cell) == Some(Cell::of(v)));
                assert!(!table.equals(i, field, &Value::Int(-5)));
            }
            // A map styled by the sheet number borrows a shared row.
            let shared = table.row_reading_cow(i, &[0]);
            assert!(matches!(shared, Cow::Borrowed(_)));
            assert_eq!(&*shared, &table.row_reading(i, &[0])[..]);
        }
        assert!(table.equals(0, 0, &Value::Null));
        assert!(!table.equals(1, 0, &Value::Null));
        // Four fields of 16 bytes a row would be 192 000 bytes.
        assert!(table.heap_bytes() < 3000 * (2 + 1 + 1 + 16) + 500 * 32);
    }

    #[test]
    fn wide_dictionaries_and_ragged_rows() {
        // 300 words: two-byte codes (arena would be larger: each word repeats 20 times).
        let rows: Vec<Vec<Value>> = (0..6000)
            .map(|i| vec![Value::Text(format!("tờ bản đồ số {}", i % 300))])
            .collect();
        let table = Columns::build(rows.clone());
        let Layout::Columns(columns) = &table.layout else {
            panic!("a table")
        };
        assert!(matches!(
            columns[0],
            Column::Words {
                codes: Codes::U16(_),
                ..
            }
        ));
        assert!((0..6000).all(|i| table.row(i) == rows[i]));
        let ragged = vec![
            vec![Value::Int(1)],
            vec![Value::Int(2), Value::Null],
            vec![],
        ];
        let table = Columns::build(ragged.clone());
        assert!((0..3).all(|i| table.row(i) == ragged[i]));
        assert_eq!(table.value(0, 1), Value::Null);
        assert!(Columns::build(Vec::new()).is_empty());
    }
}
