//! The importer's attribute mapping (`--mapping FILE`, TOML) and the family code lists:
//! any text either parses or is an error; a parsed mapping maps any value; a family check of
//! any values returns warnings or an error — never a panic.
//! Input: family byte, mapping text, a NUL, then values one per line (seeded with the
//! mapping files of data-samples/).
#![no_main]

use cuulong_core::{Family, Mapping, Value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&family, rest)) = data.split_first() else {
        return;
    };
    let family = ["admin", "land_use", "soil", "hydrology", "transport"][usize::from(family) % 5]
        .parse::<Family>()
        .expect("known family");
    let text = String::from_utf8_lossy(rest);
    let (mapping_text, values_text) = text.split_once('\0').unwrap_or((&text, ""));
    let values: Vec<Value> = values_text
        .lines()
        .map(|l| match l.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) if l.is_empty() => Value::Null,
            Err(_) => Value::Text(l.to_owned()),
        })
        .collect();
    let names: Vec<&str> = family.fields().iter().map(|f| f.name).collect();
    if let Ok(mapping) = Mapping::parse(mapping_text) {
        let _ = mapping.check_targets(&names);
        for (name, v) in names.iter().zip(&values) {
            let _ = mapping.source_of(name);
            let _ = mapping.constant(name);
            let _ = mapping.map_value(name, v.clone());
        }
    }
    let mut row: Vec<Value> = (0..names.len())
        .map(|i| values.get(i).cloned().unwrap_or(Value::Null))
        .collect();
    let _ = family.check(&mut row);
    for v in values_text.lines() {
        let _ = cuulong_core::family::normalise_road_class(v);
        let _ = cuulong_core::family::primary_soil_code(v);
        let _ = cuulong_core::family::land_use_code(v);
    }
});
