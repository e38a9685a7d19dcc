//! SensorThings query options (STA v1.1 §9.3): `$top`, `$skip`, `$count`, `$orderby`,
//! `$select`, `$filter`, `$expand` with options of its own (`Datastreams($top=2;$expand=…)`),
//! `$resultFormat=dataArray`. Bounded: `$top` above the configured maximum, `$expand` nested
//! deeper than [`MAX_EXPAND_DEPTH`] or listing more than [`MAX_EXPANDS`] paths is an error.

use super::filter::{Expr, FilterError};

/// `$top` when none is given.
pub const DEFAULT_TOP: usize = 100;
/// Deepest `$expand` nesting (`Things` → `Datastreams` → `Observations` → `FeatureOfInterest`
/// is 3).
pub const MAX_EXPAND_DEPTH: usize = 5;
/// Most `$expand` paths in one request, at every level together.
pub const MAX_EXPANDS: usize = 24;
/// Longest value of one query option, in bytes.
pub const MAX_OPTION_LENGTH: usize = 8192;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionError {
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("{option}: {message}")]
    Invalid {
        option: &'static str,
        message: String,
    },
    #[error("$top: at most {max} (asked for {asked}); page with $skip or @iot.nextLink")]
    TopTooLarge { max: usize, asked: String },
    #[error("$expand: nested deeper than {MAX_EXPAND_DEPTH} levels")]
    ExpandTooDeep,
    #[error("$expand: more than {MAX_EXPANDS} paths")]
    TooManyExpands,
    #[error("unknown query option '{0}'")]
    Unknown(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub by: Expr,
    pub descending: bool,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryOptions {
    pub top: Option<usize>,
    pub skip: usize,
    pub count: bool,
    pub filter: Option<Expr>,
    pub orderby: Vec<Order>,
    /// Properties to write (`None`: all). `@iot.id` is written as `id`.
    pub select: Option<Vec<String>>,
    pub expand: Vec<Expand>,
    /// `$resultFormat=dataArray` (Observations as arrays of values).
    pub data_array: bool,
}

/// One `$expand` path (`Datastream/Thing` is a path of two) and the options of its last step.
#[derive(Debug, Clone, PartialEq)]
pub struct Expand {
    pub path: Vec<String>,
    pub options: QueryOptions,
}

impl QueryOptions {
    /// Reads the `$` options of a request (others, such as `key`, are left to the caller).
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        max_top: usize,
    ) -> Result<QueryOptions, OptionError> {
        let mut budget = MAX_EXPANDS;
        Self::parse_level(pairs, max_top, 0, &mut budget)
    }

    fn parse_level<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        max_top: usize,
        depth: usize,
        budget: &mut usize,
    ) -> Result<QueryOptions, OptionError> {
        let mut o = QueryOptions::default();
        for (key, value) in pairs {
            if !key.starts_with('$') {
                continue;
            }
            if value.len() > MAX_OPTION_LENGTH {
                return Err(OptionError::Invalid {
                    option: "query option",
                    message: format!("longer than {MAX_OPTION_LENGTH} bytes"),
                });
            }
            let value = value.trim();
            match key {
                "$top" => {
                    let n: usize = value.parse().map_err(|_| OptionError::Invalid {
                        option: "$top",
                        message: format!("'{}' is not a non-negative integer", clip(value)),
                    })?;
                    if n > max_top {
                        return Err(OptionError::TopTooLarge {
                            max: max_top,
                            asked: clip(value),
                        });
                    }
                    o.top = Some(n);
                }
                "$skip" => {
                    o.skip = value.parse::<u32>().map_err(|_| OptionError::Invalid {
                        option: "$skip",
                        message: format!(
                            "'{}' is not an integer from 0 to {}",
                            clip(value),
                            u32::MAX
                        ),
                    })? as usize;
                }
                "$count" => {
                    o.count = match value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(OptionError::Invalid {
                                option: "$count",
                                message: "true or false".into(),
                            })
                        }
                    }
                }
                "$filter" => o.filter = Some(Expr::parse(value)?),
                "$orderby" => {
                    for part in split_top(value, ',') {
                        let part = part.trim();
                        // `desc`/`asc` in any case (FROST's client sends `DESC`).
                        let (expr, descending) = match part.rsplit_once(' ') {
                            Some((e, dir)) if dir.eq_ignore_ascii_case("desc") => (e, true),
                            Some((e, dir)) if dir.eq_ignore_ascii_case("asc") => (e, false),
                            _ => (part, false),
                        };
                        o.orderby.push(Order {
                            by: Expr::parse(expr.trim())?,
                            descending,
                        });
                    }
                }
                "$select" => {
                    let names: Vec<String> = value
                        .split(',')
                        .map(|s| match s.trim() {
                            "@iot.id" => "id".to_owned(),
                            s => s.to_owned(),
                        })
                        .collect();
                    if let Some(bad) = names.iter().find(|n| {
                        n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    }) {
                        return Err(OptionError::Invalid {
                            option: "$select",
                            message: format!("'{}' is not a property name", clip(bad)),
                        });
                    }
                    o.select = Some(names);
                }
                "$expand" => {
                    if depth + 1 > MAX_EXPAND_DEPTH {
                        return Err(OptionError::ExpandTooDeep);
                    }
                    for item in split_top(value, ',') {
                        if *budget == 0 {
                            return Err(OptionError::TooManyExpands);
                        }
                        *budget -= 1;
                        o.expand
                            .push(Self::parse_expand(item.trim(), max_top, depth + 1, budget)?);
                    }
                }
                "$resultFormat" => match value {
                    "dataArray" => o.data_array = true,
                    "default" => {}
                    _ => {
                        return Err(OptionError::Invalid {
                            option: "$resultFormat",
                            message: "dataArray or default".into(),
                        })
                    }
                },
                other => return Err(OptionError::Unknown(clip(other))),
            }
        }
        Ok(o)
    }

    fn parse_expand(
        item: &str,
        max_top: usize,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Expand, OptionError> {
        let (path, inner) = match item.find('(') {
            Some(open) => {
                let inner =
                    item[open + 1..]
                        .strip_suffix(')')
                        .ok_or_else(|| OptionError::Invalid {
                            option: "$expand",
                            message: format!("')' missing in '{}'", clip(item)),
                        })?;
                (&item[..open], inner)
            }
            None => (item, ""),
        };
        let path: Vec<String> = path.trim().split('/').map(str::to_owned).collect();
        if path.len() > MAX_EXPAND_DEPTH || depth + path.len() - 1 > MAX_EXPAND_DEPTH {
            return Err(OptionError::ExpandTooDeep);
        }
        if path
            .iter()
            .any(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_alphabetic()))
        {
            return Err(OptionError::Invalid {
                option: "$expand",
                message: format!("'{}' is not a navigation path", clip(item)),
            });
        }
        let mut pairs = Vec::new();
        for part in split_top(inner, ';') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part.split_once('=').ok_or_else(|| OptionError::Invalid {
                option: "$expand",
                message: format!("'{}' is not an option=value pair", clip(part)),
            })?;
            pairs.push((k.trim(), v));
        }
        let options = Self::parse_level(pairs, max_top, depth, budget)?;
        Ok(Expand { path, options })
    }
}

/// Splits at `sep` outside parentheses and quotes.
fn split_top(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if start < s.len() || !out.is_empty() {
        out.push(&s[start..]);
    }
    out
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &[(&str, &str)]) -> Result<QueryOptions, OptionError> {
        QueryOptions::parse(q.iter().copied(), 1000)
    }

    #[test]
    fn every_option_parses() {
        let o = parse(&[
            ("$top", "5"),
            ("$skip", "10"),
            ("$count", "true"),
            ("$filter", "result gt 2"),
            ("$orderby", "phenomenonTime DESC, result"),
            ("$select", "@iot.id,result"),
            (
                "$expand",
                "Datastreams($select=name;$expand=Observations($top=2;$orderby=phenomenonTime desc)),Locations",
            ),
            ("key", "ignored"),
        ])
        .unwrap();
        assert_eq!((o.top, o.skip, o.count), (Some(5), 10, true));
        assert_eq!(o.orderby.len(), 2);
        assert!(o.orderby[0].descending && !o.orderby[1].descending);
        assert_eq!(o.select, Some(vec!["id".to_owned(), "result".to_owned()]));
        assert_eq!(o.expand.len(), 2);
        let ds = &o.expand[0];
        assert_eq!(ds.path, vec!["Datastreams"]);
        assert_eq!(ds.options.select, Some(vec!["name".to_owned()]));
        let obs = &ds.options.expand[0];
        assert_eq!(obs.options.top, Some(2));
        assert!(obs.options.orderby[0].descending);
        assert_eq!(o.expand[1].path, vec!["Locations"]);
        let nav = parse(&[("$expand", "Datastream/Thing/Locations")]).unwrap();
        assert_eq!(nav.expand[0].path.len(), 3);
    }

    #[test]
    fn hostile_options_are_refused() {
        assert!(matches!(
            parse(&[("$top", "1000000000")]),
            Err(OptionError::TopTooLarge { .. })
        ));
        assert!(parse(&[("$top", "-1")]).is_err());
        assert!(parse(&[("$skip", "99999999999999")]).is_err());
        assert!(parse(&[("$count", "yes")]).is_err());
        assert!(matches!(
            parse(&[("$frobnicate", "1")]),
            Err(OptionError::Unknown(_))
        ));
        let mut deep = "Observations".to_owned();
        for _ in 0..10 {
            deep = format!("Datastreams($expand={deep})");
        }
        assert_eq!(
            parse(&[("$expand", &deep)]),
            Err(OptionError::ExpandTooDeep)
        );
        let wide = vec!["Datastreams"; 40].join(",");
        assert_eq!(
            parse(&[("$expand", &wide)]),
            Err(OptionError::TooManyExpands)
        );
        assert!(parse(&[("$expand", "Datastreams($top=2")]).is_err());
        assert!(parse(&[("$expand", "Data streams")]).is_err());
        assert!(parse(&[("$select", "name;drop")]).is_err());
        assert!(matches!(
            parse(&[("$expand", "Datastreams($top=99999)")]),
            Err(OptionError::TopTooLarge { .. })
        ));
    }
}
