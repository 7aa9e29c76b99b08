// Imports a function no host provides: instantiation must fail.
__attribute__((import_module("env"), import_name("does_not_exist"))) void does_not_exist(void);

int main(void) {
    does_not_exist();
    return 0;
}
