//! Alternative `#[cfg]`'d tails (http's `StatusCode::as_str`), and
//! attributes on the tail, in every form: the tail that is compiled in is
//! the value of the body's block, which the expansion classifies.
#![deny(warnings)]

static CODE_DIGITS: &str = "200404500";

pub struct StatusCode(u16);

#[alamos::experiment("ui.cfg_tails")]
impl StatusCode {
    pub fn as_str(&self) -> &str {
        let offset = match self.0 {
            200 => 0,
            404 => 3,
            _ => 6,
        };
        #[cfg(debug_assertions)]
        {
            &CODE_DIGITS[offset..offset + 3]
        }
        #[cfg(not(debug_assertions))]
        unsafe {
            CODE_DIGITS.get_unchecked(offset..offset + 3)
        }
    }

    pub fn checked(&self) -> Result<u16, String> {
        #[cfg(not(debug_assertions))]
        {
            Ok(self.0)
        }
        #[cfg(debug_assertions)]
        {
            if self.0 >= 500 {
                return Err(format!("{} is a server error", self.0));
            }
            Ok(self.0)
        }
    }
}

#[alamos::experiment("ui.cfg_tails")]
fn platform() -> Result<&'static str, String> {
    #[cfg(unix)]
    {
        Ok("unix")
    }
    #[cfg(windows)]
    {
        Ok("windows")
    }
    #[cfg(not(any(unix, windows)))]
    {
        Err("unknown platform".to_owned())
    }
}

#[alamos::experiment("ui.cfg_tails")]
#[track_caller]
fn located_as_str(code: &StatusCode) -> &str {
    #[cfg(debug_assertions)]
    {
        &CODE_DIGITS[0..usize::from(code.0 / 100)]
    }
    #[cfg(not(debug_assertions))]
    unsafe {
        CODE_DIGITS.get_unchecked(0..usize::from(code.0 / 100))
    }
}

#[alamos::experiment("ui.cfg_tails")]
fn unit_cfg_tail(out: &mut Vec<u32>) {
    #[cfg(debug_assertions)]
    {
        out.push(1);
    }
    #[cfg(not(debug_assertions))]
    {
        out.push(2);
    }
}

#[alamos::experiment("ui.cfg_tails")]
fn allowed_tail(x: u32) -> Result<u32, String> {
    #[allow(unused_unsafe)]
    unsafe {
        if x == 0 {
            return Err("zero".to_owned());
        }
        Ok(x)
    }
}

#[alamos::experiment("ui.cfg_tails")]
#[track_caller]
fn located_allowed_tail(x: u32) -> Result<u32, String> {
    #[allow(clippy::let_and_return)]
    {
        let y = x + 1;
        Ok(y)
    }
}

#[alamos::experiment("ui.cfg_tails")]
async fn async_cfg_tail() -> Result<u8, String> {
    #[cfg(debug_assertions)]
    {
        Ok(1)
    }
    #[cfg(not(debug_assertions))]
    {
        Ok(2)
    }
}

fn main() {
    assert_eq!(StatusCode(404).as_str(), "404");
    assert_eq!(StatusCode(200).checked(), Ok(200));
    assert!(platform().is_ok());
    assert_eq!(located_as_str(&StatusCode(200)), "20");
    let mut out = Vec::new();
    unit_cfg_tail(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(allowed_tail(3), Ok(3));
    assert_eq!(located_allowed_tail(3), Ok(4));
    drop(async_cfg_tail());
}
