//! Layer families: their attribute schemas and the Vietnamese code lists they are
//! checked against. A family turns "some polygons with attributes" into land use, soil, …
//! whose codes every client can rely on.

use crate::feature::{Field, FieldType, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FamilyError {
    #[error("unknown family '{0}' (expected admin, land_use, soil, hydrology or transport)")]
    Unknown(String),
    #[error("required field '{0}' is empty")]
    Missing(&'static str),
    #[error("field '{field}': '{value}' is not in the {list} code list")]
    NotInCodeList {
        field: &'static str,
        value: String,
        list: &'static str,
    },
    #[error("field '{field}': '{value}' disagrees with '{expected}' implied by {from}")]
    Inconsistent {
        field: &'static str,
        value: String,
        expected: String,
        from: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Admin,
    LandUse,
    Soil,
    Hydrology,
    Transport,
}

/// One field of a family schema.
#[derive(Debug, Clone, Copy)]
pub struct FamilyField {
    pub name: &'static str,
    pub kind: FieldType,
    pub required: bool,
}

const fn ff(name: &'static str, kind: FieldType, required: bool) -> FamilyField {
    FamilyField {
        name,
        kind,
        required,
    }
}

use FieldType::{Bool, Date, Float, Int, Text};

const ADMIN: &[FamilyField] = &[
    ff("code", Text, false),
    ff("name", Text, true),
    ff("level", Text, true),
    ff("parent_code", Text, false),
    ff("valid_from", Date, false),
    ff("valid_to", Date, false),
];
const LAND_USE: &[FamilyField] = &[
    ff("lu_code", Text, true),
    ff("lu_code_full", Text, false),
    ff("lu_group", Text, false),
    ff("code_system", Text, false),
    ff("year", Int, false),
    ff("area_m2", Float, false),
];
const SOIL: &[FamilyField] = &[
    ff("vn_soil_code", Text, true),
    ff("soil_group", Text, false),
    ff("wrb_name", Text, false),
    ff("salinity_class", Text, false),
    ff("texture", Text, false),
];
const HYDROLOGY: &[FamilyField] = &[
    ff("kind", Text, true),
    ff("name", Text, false),
    ff("width_m", Float, false),
    ff("station_code", Text, false),
    ff("parameters", Text, false),
];
const TRANSPORT: &[FamilyField] = &[
    ff("road_class", Text, true),
    ff("ref", Text, false),
    ff("name", Text, false),
    ff("lanes", Int, false),
    ff("surface", Text, false),
    ff("bridge", Bool, false),
];

/// A land-use code of Circular 27/2018/TT-BTNMT (and 08/2024): code, group, Vietnamese and
/// English names, and the fill colour of the official land-use map legend.
#[derive(Debug, Clone, Copy)]
pub struct LandUseCode {
    pub code: &'static str,
    pub group: &'static str,
    pub name_vi: &'static str,
    pub name_en: &'static str,
    pub fill: &'static str,
}

const fn lu(
    code: &'static str,
    group: &'static str,
    name_vi: &'static str,
    name_en: &'static str,
    fill: &'static str,
) -> LandUseCode {
    LandUseCode {
        code,
        group,
        name_vi,
        name_en,
        fill,
    }
}

pub const LAND_USE_CODES: &[LandUseCode] = &[
    lu(
        "LUC",
        "NNP",
        "Đất chuyên trồng lúa nước",
        "Specialised wet rice",
        "#FFFC8C",
    ),
    lu(
        "LUK",
        "NNP",
        "Đất trồng lúa nước còn lại",
        "Other wet rice",
        "#FFFC96",
    ),
    lu(
        "LUN",
        "NNP",
        "Đất trồng lúa nương",
        "Upland rice",
        "#FFFCB4",
    ),
    lu(
        "BHK",
        "NNP",
        "Đất bằng trồng cây hàng năm khác",
        "Other annual crops (flat)",
        "#FFF0B4",
    ),
    lu(
        "NHK",
        "NNP",
        "Đất nương rẫy trồng cây hàng năm khác",
        "Other annual crops (upland)",
        "#FFF0B4",
    ),
    lu(
        "HNK",
        "NNP",
        "Đất trồng cây hàng năm khác",
        "Other annual crops",
        "#FFF0B4",
    ),
    lu(
        "CLN",
        "NNP",
        "Đất trồng cây lâu năm",
        "Perennial crops",
        "#FFD2A0",
    ),
    lu(
        "RSX",
        "NNP",
        "Đất rừng sản xuất",
        "Production forest",
        "#B4FFB4",
    ),
    lu(
        "RPH",
        "NNP",
        "Đất rừng phòng hộ",
        "Protection forest",
        "#BEFF1E",
    ),
    lu(
        "RDD",
        "NNP",
        "Đất rừng đặc dụng",
        "Special-use forest",
        "#6EFF64",
    ),
    lu(
        "NTS",
        "NNP",
        "Đất nuôi trồng thủy sản",
        "Aquaculture",
        "#AAFFFF",
    ),
    lu("LMU", "NNP", "Đất làm muối", "Salt making", "#FFFFFE"),
    lu(
        "NKH",
        "NNP",
        "Đất nông nghiệp khác",
        "Other agricultural land",
        "#F5FFB4",
    ),
    lu(
        "CNT",
        "NNP",
        "Đất chăn nuôi tập trung",
        "Concentrated livestock",
        "#F5FFB4",
    ),
    lu(
        "ONT",
        "PNN",
        "Đất ở tại nông thôn",
        "Rural residential",
        "#FFD0FF",
    ),
    lu(
        "ODT",
        "PNN",
        "Đất ở tại đô thị",
        "Urban residential",
        "#FFA0FF",
    ),
    lu(
        "TSC",
        "PNN",
        "Đất xây dựng trụ sở cơ quan",
        "Government offices",
        "#FFAAA0",
    ),
    lu(
        "DTS",
        "PNN",
        "Đất xây dựng trụ sở của tổ chức sự nghiệp",
        "Public-service offices",
        "#FFAAA0",
    ),
    lu(
        "DVH",
        "PNN",
        "Đất xây dựng cơ sở văn hóa",
        "Culture",
        "#FFAAA0",
    ),
    lu(
        "DXH",
        "PNN",
        "Đất xây dựng cơ sở dịch vụ xã hội",
        "Social services",
        "#FFAAA0",
    ),
    lu("DYT", "PNN", "Đất xây dựng cơ sở y tế", "Health", "#FFAAA0"),
    lu(
        "DGD",
        "PNN",
        "Đất xây dựng cơ sở giáo dục và đào tạo",
        "Education",
        "#FFAAA0",
    ),
    lu(
        "DTT",
        "PNN",
        "Đất xây dựng cơ sở thể dục thể thao",
        "Sport",
        "#FFAAA0",
    ),
    lu(
        "DKH",
        "PNN",
        "Đất xây dựng cơ sở khoa học và công nghệ",
        "Science and technology",
        "#FFAAA0",
    ),
    lu(
        "DNG",
        "PNN",
        "Đất xây dựng cơ sở ngoại giao",
        "Diplomatic",
        "#FFAAA0",
    ),
    lu(
        "DSK",
        "PNN",
        "Đất xây dựng công trình sự nghiệp khác",
        "Other public works",
        "#FFAAA0",
    ),
    lu("CQP", "PNN", "Đất quốc phòng", "Defence", "#FF6450"),
    lu("CAN", "PNN", "Đất an ninh", "Security", "#FF5046"),
    lu(
        "SKK",
        "PNN",
        "Đất khu công nghiệp",
        "Industrial zone",
        "#FAAAA0",
    ),
    lu(
        "SKN",
        "PNN",
        "Đất cụm công nghiệp",
        "Industrial cluster",
        "#FAAAA0",
    ),
    lu(
        "TMD",
        "PNN",
        "Đất thương mại, dịch vụ",
        "Commerce and services",
        "#FAAAA0",
    ),
    lu(
        "SKC",
        "PNN",
        "Đất cơ sở sản xuất phi nông nghiệp",
        "Non-agricultural production",
        "#FAAAA0",
    ),
    lu(
        "SKS",
        "PNN",
        "Đất sử dụng cho hoạt động khoáng sản",
        "Mining",
        "#FAAAA0",
    ),
    lu(
        "SKX",
        "PNN",
        "Đất sản xuất vật liệu xây dựng, làm đồ gốm",
        "Building materials, pottery",
        "#FAAAA0",
    ),
    lu("DGT", "PNN", "Đất giao thông", "Transport", "#FFAA32"),
    lu("DTL", "PNN", "Đất thủy lợi", "Irrigation works", "#AAFFFF"),
    lu(
        "DDT",
        "PNN",
        "Đất có di tích lịch sử - văn hóa",
        "Historic sites",
        "#FFAAA0",
    ),
    lu(
        "DDL",
        "PNN",
        "Đất danh lam thắng cảnh",
        "Scenic sites",
        "#FFAAA0",
    ),
    lu(
        "DSH",
        "PNN",
        "Đất sinh hoạt cộng đồng",
        "Community activities",
        "#FFAAA0",
    ),
    lu(
        "DKV",
        "PNN",
        "Đất khu vui chơi, giải trí công cộng",
        "Public recreation",
        "#FFAAA0",
    ),
    lu(
        "DNL",
        "PNN",
        "Đất công trình năng lượng",
        "Energy works",
        "#FFAAA0",
    ),
    lu(
        "DBV",
        "PNN",
        "Đất công trình bưu chính, viễn thông",
        "Post and telecoms",
        "#FFAAA0",
    ),
    lu("DCH", "PNN", "Đất chợ", "Markets", "#FFAAA0"),
    lu(
        "DRA",
        "PNN",
        "Đất bãi thải, xử lý chất thải",
        "Waste disposal",
        "#FFAAA0",
    ),
    lu(
        "DCK",
        "PNN",
        "Đất công trình công cộng khác",
        "Other public works",
        "#FFAAA0",
    ),
    lu("TON", "PNN", "Đất cơ sở tôn giáo", "Religious", "#FFAAA0"),
    lu("TIN", "PNN", "Đất cơ sở tín ngưỡng", "Belief", "#FFAAA0"),
    lu(
        "NTD",
        "PNN",
        "Đất làm nghĩa trang, nghĩa địa, nhà tang lễ, nhà hỏa táng",
        "Cemeteries",
        "#D2D2D2",
    ),
    lu(
        "SON",
        "PNN",
        "Đất sông, ngòi, kênh, rạch, suối",
        "Rivers and canals",
        "#A0FFFF",
    ),
    lu(
        "MNC",
        "PNN",
        "Đất có mặt nước chuyên dùng",
        "Special-use water surface",
        "#B4FFFF",
    ),
    lu(
        "PNK",
        "PNN",
        "Đất phi nông nghiệp khác",
        "Other non-agricultural",
        "#FFAAA0",
    ),
    lu(
        "BCS",
        "CSD",
        "Đất bằng chưa sử dụng",
        "Unused flat land",
        "#FFFFFE",
    ),
    lu(
        "DCS",
        "CSD",
        "Đất đồi núi chưa sử dụng",
        "Unused hilly land",
        "#FFFFFE",
    ),
    lu(
        "NCS",
        "CSD",
        "Núi đá không có rừng cây",
        "Rocky mountains without forest",
        "#E6E6C8",
    ),
];

/// Pre-2014 codes (Circular 08/2007 and earlier) still found in old data, and the TT27/2018 code
/// an importer maps each to. Every mapping is reported.
pub const LAND_USE_CROSSWALK: &[(&str, &str)] = &[
    ("COC", "HNK"),
    ("LNC", "CLN"),
    ("LNQ", "CLN"),
    ("LNK", "CLN"),
    ("TSL", "NTS"),
    ("TSN", "NTS"),
    ("RSN", "RSX"),
    ("RPN", "RPH"),
    ("RDN", "RDD"),
    ("CTS", "TSC"),
];

pub fn land_use_code(code: &str) -> Option<&'static LandUseCode> {
    LAND_USE_CODES.iter().find(|c| c.code == code)
}

/// Soil groups of Bến Tre: code prefix → group (Vietnamese, English, WRB).
pub const SOIL_GROUPS: &[(&str, &str, &str)] = &[
    ("mặn", "saline soils", "Salic Fluvisols"),
    ("phù sa", "alluvial soils", "Fluvisols"),
    ("phèn", "acid sulphate soils", "Thionic Fluvisols"),
    ("cát", "sandy ridge soils", "Arenosols"),
];

/// Soil codes of the provincial legend and their group.
pub const SOIL_CODES: &[(&str, &str)] = &[
    ("M", "mặn"),
    ("Mn", "mặn"),
    ("Mm", "mặn"),
    ("P", "phù sa"),
    ("Pb", "phù sa"),
    ("Pg", "phù sa"),
    ("Sp1", "phèn"),
    ("Sp2", "phèn"),
    ("Sj1", "phèn"),
    ("Sj2", "phèn"),
    ("C", "cát"),
];

pub const HYDROLOGY_KINDS: &[&str] = &["river", "canal", "creek", "lake", "sea", "station"];

/// Road classes (Road Law 2024, Art. 8), ASCII codes as stored.
pub const ROAD_CLASSES: &[(&str, &str, &str)] = &[
    ("QL", "Quốc lộ", "National road"),
    ("DT", "Đường tỉnh", "Provincial road"),
    ("DH", "Đường huyện", "District road"),
    ("DX", "Đường xã", "Commune road"),
    ("thon", "Đường thôn", "Village road"),
    ("urban", "Đường đô thị", "Urban road"),
    ("special", "Đường chuyên dùng", "Special-use road"),
];

impl std::str::FromStr for Family {
    type Err = FamilyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "admin" => Family::Admin,
            "land_use" => Family::LandUse,
            "soil" => Family::Soil,
            "hydrology" => Family::Hydrology,
            "transport" => Family::Transport,
            other => return Err(FamilyError::Unknown(other.to_owned())),
        })
    }
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Admin => "admin",
            Family::LandUse => "land_use",
            Family::Soil => "soil",
            Family::Hydrology => "hydrology",
            Family::Transport => "transport",
        }
    }

    pub fn fields(self) -> &'static [FamilyField] {
        match self {
            Family::Admin => ADMIN,
            Family::LandUse => LAND_USE,
            Family::Soil => SOIL,
            Family::Hydrology => HYDROLOGY,
            Family::Transport => TRANSPORT,
        }
    }

    pub fn schema_fields(self) -> Vec<Field> {
        self.fields()
            .iter()
            .map(|f| Field::new(f.name, f.kind))
            .collect()
    }

    /// Normalises and checks one feature's family values (aligned with [`Family::fields`]).
    /// Derived fields (land-use group, soil group) are filled in when empty. Returns notes on
    /// what was changed (crosswalk mappings) or an error naming the offending field.
    pub fn check(self, values: &mut [Value]) -> Result<Vec<String>, FamilyError> {
        debug_assert_eq!(values.len(), self.fields().len());
        for (f, v) in self.fields().iter().zip(values.iter()) {
            let empty = match v {
                Value::Null => true,
                Value::Text(s) => s.trim().is_empty(),
                _ => false,
            };
            if f.required && empty {
                return Err(FamilyError::Missing(f.name));
            }
        }
        let mut notes = Vec::new();
        match self {
            Family::Admin => check_admin(values)?,
            Family::LandUse => check_land_use(values, &mut notes)?,
            Family::Soil => check_soil(values)?,
            Family::Hydrology => {
                let kind = text(&values[0]).to_ascii_lowercase();
                if !HYDROLOGY_KINDS.contains(&kind.as_str()) {
                    return Err(FamilyError::NotInCodeList {
                        field: "kind",
                        value: kind,
                        list: "hydrology kind",
                    });
                }
                values[0] = Value::Text(kind);
            }
            Family::Transport => {
                let class = normalise_road_class(text(&values[0])).ok_or_else(|| {
                    FamilyError::NotInCodeList {
                        field: "road_class",
                        value: text(&values[0]).to_owned(),
                        list: "road class (Road Law 2024)",
                    }
                })?;
                values[0] = Value::Text(class.to_owned());
            }
        }
        Ok(notes)
    }
}

fn text(v: &Value) -> &str {
    v.as_str().map(str::trim).unwrap_or("")
}

fn check_admin(values: &mut [Value]) -> Result<(), FamilyError> {
    let level = text(&values[2]).to_lowercase();
    let digits = match level.as_str() {
        "province" | "tỉnh" => ("province", 2),
        "district" | "huyện" => ("district", 3),
        "commune" | "xã" => ("commune", 5),
        _ => {
            return Err(FamilyError::NotInCodeList {
                field: "level",
                value: level,
                list: "admin level (province, district, commune)",
            })
        }
    };
    values[2] = Value::Text(digits.0.to_owned());
    if let Value::Int(i) = values[0] {
        values[0] = Value::Text(format!("{i:0width$}", width = digits.1));
    }
    let code = text(&values[0]);
    if !code.is_empty() && (code.len() != digits.1 || !code.bytes().all(|b| b.is_ascii_digit())) {
        return Err(FamilyError::Inconsistent {
            field: "code",
            value: code.to_owned(),
            expected: format!("a {}-digit GSO code", digits.1),
            from: format!("level {}", digits.0),
        });
    }
    Ok(())
}

/// Land use: mixed codes keep the first, pre-2014 codes go through the crosswalk, the group is
/// derived from the code and must agree with a given one, `CNT` needs Circular 08/2024.
fn check_land_use(values: &mut [Value], notes: &mut Vec<String>) -> Result<(), FamilyError> {
    let raw = text(&values[0]).to_uppercase();
    let mut code = raw
        .split(['+', ',', ';', '/'])
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    if code != raw && values[1].is_null() {
        values[1] = Value::Text(raw.clone());
    }
    if let Some((old, new)) = LAND_USE_CROSSWALK.iter().find(|(old, _)| *old == code) {
        notes.push(format!(
            "land-use code {old} mapped to {new} (pre-2014 crosswalk)"
        ));
        code = (*new).to_owned();
    }
    let entry = land_use_code(&code).ok_or_else(|| FamilyError::NotInCodeList {
        field: "lu_code",
        value: raw.clone(),
        list: "land-use (TT27/2018, TT08/2024)",
    })?;
    let system = match text(&values[3]) {
        "" => "TT27/2018".to_owned(),
        s => s.to_owned(),
    };
    if system != "TT27/2018" && system != "TT08/2024" {
        return Err(FamilyError::NotInCodeList {
            field: "code_system",
            value: system,
            list: "code system (TT27/2018, TT08/2024)",
        });
    }
    if code == "CNT" && system != "TT08/2024" {
        return Err(FamilyError::Inconsistent {
            field: "code_system",
            value: system,
            expected: "TT08/2024".into(),
            from: "lu_code CNT".into(),
        });
    }
    let group = text(&values[2]).to_uppercase();
    if !group.is_empty() && group != entry.group {
        return Err(FamilyError::Inconsistent {
            field: "lu_group",
            value: group,
            expected: entry.group.into(),
            from: format!("lu_code {code}"),
        });
    }
    values[0] = Value::Text(code);
    values[2] = Value::Text(entry.group.to_owned());
    values[3] = Value::Text(system);
    Ok(())
}

/// The soil code of a (possibly combined) label: `Sp1M` → `Sp1`, `Mn` → `Mn`.
pub fn primary_soil_code(label: &str) -> Option<&'static str> {
    SOIL_CODES
        .iter()
        .filter(|(code, _)| label.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map(|(code, _)| *code)
}

pub fn soil_group_of(code: &str) -> Option<&'static str> {
    SOIL_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, group)| *group)
}

fn check_soil(values: &mut [Value]) -> Result<(), FamilyError> {
    let label = text(&values[0]).to_owned();
    let code = primary_soil_code(&label).ok_or_else(|| FamilyError::NotInCodeList {
        field: "vn_soil_code",
        value: label.clone(),
        list: "Bến Tre soil legend",
    })?;
    let group = soil_group_of(code).unwrap_or_default();
    let given = text(&values[1]).to_lowercase();
    let given = given
        .strip_prefix("đất ")
        .unwrap_or(&given)
        .trim()
        .to_owned();
    if !given.is_empty() && given != group && !(group == "cát" && given.starts_with("cát")) {
        return Err(FamilyError::Inconsistent {
            field: "soil_group",
            value: given,
            expected: group.into(),
            from: format!("vn_soil_code {label}"),
        });
    }
    values[0] = Value::Text(label);
    values[1] = Value::Text(group.to_owned());
    Ok(())
}

/// Accepts the ASCII codes and their Vietnamese spellings (`ĐT`, `Đường huyện`, …).
pub fn normalise_road_class(raw: &str) -> Option<&'static str> {
    let s = raw.trim().to_lowercase();
    let s = s.replace('đ', "d");
    Some(match s.as_str() {
        "ql" | "quốc lộ" | "quoc lo" | "national" => "QL",
        "dt" | "dường tỉnh" | "duong tinh" | "provincial" => "DT",
        "dh" | "dường huyện" | "duong huyen" | "district" => "DH",
        "dx" | "dường xã" | "duong xa" | "commune" => "DX",
        "thon" | "thôn" | "dường thôn" | "village" => "thon",
        "urban" | "dô thị" | "dường dô thị" => "urban",
        "special" | "chuyên dùng" | "dường chuyên dùng" => "special",
        _ => return None,
    })
}

/// The attribute a family's statistics are grouped by (and weights chosen by class).
pub fn class_field(family: Option<&str>) -> Option<&'static str> {
    match family? {
        "land_use" => Some("lu_code"),
        "soil" => Some("soil_group"),
        "transport" => Some("road_class"),
        "hydrology" => Some("kind"),
        "admin" => Some("level"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lu_values(code: &str) -> Vec<Value> {
        let mut v = vec![Value::Null; LAND_USE.len()];
        v[0] = Value::Text(code.into());
        v
    }

    #[test]
    fn land_use_codes_are_checked_and_grouped() {
        let mut v = lu_values("CLN");
        assert!(Family::LandUse.check(&mut v).unwrap().is_empty());
        assert_eq!(v[2], Value::Text("NNP".into()));
        assert_eq!(v[3], Value::Text("TT27/2018".into()));

        let mut v = lu_values("ONT+CLN");
        Family::LandUse.check(&mut v).unwrap();
        assert_eq!(v[0], Value::Text("ONT".into()));
        assert_eq!(v[1], Value::Text("ONT+CLN".into()));
        assert_eq!(v[2], Value::Text("PNN".into()));

        let mut v = lu_values("LNQ");
        let notes = Family::LandUse.check(&mut v).unwrap();
        assert_eq!(v[0], Value::Text("CLN".into()));
        assert_eq!(notes.len(), 1);

        let err = Family::LandUse.check(&mut lu_values("XYZ")).unwrap_err();
        assert!(err.to_string().contains("XYZ"), "{err}");
        assert!(Family::LandUse.check(&mut lu_values("CNT")).is_err());
        assert!(Family::LandUse.check(&mut lu_values("")).is_err());

        let mut v = lu_values("NTS");
        v[2] = Value::Text("PNN".into());
        assert!(matches!(
            Family::LandUse.check(&mut v),
            Err(FamilyError::Inconsistent { .. })
        ));
    }

    #[test]
    fn soil_codes_resolve_combined_labels() {
        assert_eq!(primary_soil_code("Sp1M"), Some("Sp1"));
        assert_eq!(primary_soil_code("Mn"), Some("Mn"));
        assert_eq!(primary_soil_code("M"), Some("M"));
        assert_eq!(primary_soil_code("X"), None);
        let mut v = vec![Value::Text("Sj2".into()), Value::Text("Đất phèn".into())];
        v.resize(SOIL.len(), Value::Null);
        Family::Soil.check(&mut v).unwrap();
        assert_eq!(v[1], Value::Text("phèn".into()));
    }

    #[test]
    fn road_classes_accept_vietnamese_spellings() {
        assert_eq!(normalise_road_class("ĐT"), Some("DT"));
        assert_eq!(normalise_road_class("Quốc lộ"), Some("QL"));
        assert_eq!(normalise_road_class("đường huyện"), Some("DH"));
        assert_eq!(normalise_road_class("highway"), None);
    }

    #[test]
    fn admin_codes_match_level() {
        let mut v = vec![
            Value::Int(83),
            Value::Text("Bến Tre".into()),
            Value::Text("province".into()),
            Value::Null,
            Value::Null,
            Value::Null,
        ];
        Family::Admin.check(&mut v).unwrap();
        assert_eq!(v[0], Value::Text("83".into()));
        v[2] = Value::Text("district".into());
        assert!(Family::Admin.check(&mut v).is_err());
    }

    #[test]
    fn unknown_family_is_named() {
        let err = "landuse".parse::<Family>().unwrap_err();
        assert!(err.to_string().contains("landuse"));
    }
}
