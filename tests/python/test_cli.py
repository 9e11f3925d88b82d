class Placeholder: pass
