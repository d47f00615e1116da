pub struct SigningProfile;
pub struct DerivedComponent;
pub struct HeaderSelection;
pub struct KeyConfig;
pub struct SignatureParameter;
