/* Optional C versions of the two hottest operations; src/registry/speedups.py chooses between
 * them and their pure-Python versions, and tests/test_speedups.py runs both.
 *
 * Getter: the hit path of Registry.get_artifact. A hit is one dict lookup inside a
 *     vectorcall, with no Python frame. Anything else (a miss, an unhashable identifier,
 *     keywords, a wrong argument count) calls the pure-Python getter, which raises exactly what
 *     it raises without this module.
 * Records: the provenance records that to_config reads, one per built object. A record costs
 *     one weak reference, without the weakref type call's argument parsing, the id() audit
 *     event, a key object or a tuple.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    PyObject *artifacts; /* an exact dict */
    PyObject *fallback;  /* the pure-Python getter */
    vectorcallfunc vectorcall;
} Getter;

static PyObject *
getter_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Getter *self = (Getter *)op;
    if (PyVectorcall_NARGS(nargsf) == 1 && kwnames == NULL) {
#if PY_VERSION_HEX >= 0x030D0000
        PyObject *value;
        int found = PyDict_GetItemRef(self->artifacts, args[0], &value);
        if (found > 0) {
            return value;
        }
#else
        PyObject *value = PyDict_GetItemWithError(self->artifacts, args[0]);
        if (value != NULL) {
            return Py_NewRef(value);
        }
        int found = PyErr_Occurred() ? -1 : 0;
#endif
        if (found < 0) {
            /* Only an unhashable identifier is the fallback's to explain; anything else (a
             * KeyboardInterrupt raised inside a key's __eq__) goes up as it is. */
            if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
                return NULL;
            }
            PyErr_Clear();
        }
    }
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static PyObject *
getter_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    PyObject *artifacts, *fallback;
    static char *keywords[] = {"artifacts", "fallback", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O:Getter", keywords, &PyDict_Type,
                                     &artifacts, &fallback)) {
        return NULL;
    }
    if (!PyDict_CheckExact(artifacts)) {
        PyErr_SetString(PyExc_TypeError, "Getter: artifacts must be a dict, not a subclass");
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "Getter: fallback must be callable");
        return NULL;
    }
    Getter *self = (Getter *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->artifacts = Py_NewRef(artifacts);
    self->fallback = Py_NewRef(fallback);
    self->vectorcall = getter_call;
    return (PyObject *)self;
}

static int
getter_traverse(PyObject *op, visitproc visit, void *arg)
{
    Getter *self = (Getter *)op;
    Py_VISIT(Py_TYPE(op));
    Py_VISIT(self->artifacts);
    Py_VISIT(self->fallback);
    return 0;
}

static int
getter_clear(PyObject *op)
{
    Getter *self = (Getter *)op;
    Py_CLEAR(self->artifacts);
    Py_CLEAR(self->fallback);
    return 0;
}

static void
getter_dealloc(PyObject *op)
{
    PyTypeObject *type = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)getter_clear(op);
    type->tp_free(op);
    Py_DECREF(type);
}

/* help(), inspect.signature() and the other function attributes are the pure-Python getter's. */
static PyObject *
getter_getattro(PyObject *op, PyObject *name)
{
    PyObject *found = PyObject_GenericGetAttr(op, name);
    if (found != NULL || !PyErr_ExceptionMatches(PyExc_AttributeError)) {
        return found;
    }
    PyErr_Clear();
    return PyObject_GetAttr(((Getter *)op)->fallback, name);
}

static PyObject *
getter_repr(PyObject *op)
{
    return PyUnicode_FromFormat("<C getter serving hits for %R>", ((Getter *)op)->fallback);
}

static PyObject *
getter_doc(PyObject *op, void *closure)
{
    return PyObject_GetAttrString(((Getter *)op)->fallback, "__doc__");
}

static PyGetSetDef getter_getset[] = {
    {"__doc__", getter_doc, NULL, NULL, NULL},
    {NULL},
};

static PyMemberDef getter_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(Getter, fallback), READONLY,
     "The pure-Python getter, which serves everything but a hit."},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(Getter, vectorcall), READONLY},
    {NULL},
};

static PyType_Slot getter_slots[] = {
    {Py_tp_new, getter_new},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_traverse, getter_traverse},
    {Py_tp_clear, getter_clear},
    {Py_tp_dealloc, getter_dealloc},
    {Py_tp_getattro, getter_getattro},
    {Py_tp_repr, getter_repr},
    {Py_tp_members, getter_members},
    {Py_tp_getset, getter_getset},
    {0, NULL},
};

static PyType_Spec getter_spec = {
    .name = "registry._speedups.Getter",
    .basicsize = sizeof(Getter),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
             Py_TPFLAGS_IMMUTABLETYPE,
    .slots = getter_slots,
};

/* ------------------------------------------------------------------------------- Records */

/* The table of provenance records: for every object a builder made, a weak reference to it,
 * the compiled node that built it and the literal values of that build. It is keyed by the
 * object's address in an open-addressing table (linear probing), so a record costs one weak
 * reference and no other allocation. Nothing is ever deleted on its own: when the table is
 * half full, it is rebuilt without the records of dead objects (and grown if it is still a
 * quarter full), so the sweep is amortised over the insertions. A new object at the address
 * of a dead one takes over its slot. */

typedef struct {
    uintptr_t key; /* the object's address */
    PyObject *ref; /* NULL: an empty slot */
    PyObject *node;
    PyObject *slots;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *entries;
    size_t capacity; /* a power of two, or 0 with no entries */
    size_t used;
    PyObject *no_slots; /* () */
} Records;

/* 8 KiB: a steady build-and-drop loop rebuilds the table once per ~100 records. */
#define MIN_CAPACITY 256

static size_t
slot_of(uintptr_t key, size_t capacity)
{
    /* Objects are 16-byte aligned: drop the zero bits and mix the rest (Fibonacci hashing). */
    uint64_t hash = (uint64_t)(key >> 4) * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(hash ^ (hash >> 32)) & (capacity - 1);
}

/* The object ref refers to, borrowed; Py_None once it died. */
static PyObject *
referent(PyObject *ref)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *obj;
    if (PyWeakref_GetRef(ref, &obj) <= 0) {
        PyErr_Clear();
        return Py_None;
    }
    Py_DECREF(obj); /* the record's caller holds obj, or it is only compared */
    return obj;
#else
    return PyWeakref_GET_OBJECT(ref);
#endif
}

static Entry *
find(Entry *entries, size_t capacity, uintptr_t key)
{
    size_t i = slot_of(key, capacity);
    while (entries[i].ref != NULL && entries[i].key != key) {
        i = (i + 1) & (capacity - 1);
    }
    return &entries[i];
}

/* Rebuild the table without dead records, into a capacity that leaves it at most a quarter
 * full. The references of dropped records go to *garbage (3 per record, *dropped of them),
 * to be released by the caller once the table is consistent: releasing one may run any code,
 * including a build that records into this table. */
static int
rebuild(Records *self, PyObject ***garbage, size_t *dropped)
{
    size_t live = 0;
    for (size_t i = 0; i < self->capacity; i++) {
        if (self->entries[i].ref != NULL && referent(self->entries[i].ref) != Py_None) {
            live++;
        }
    }
    size_t capacity = MIN_CAPACITY;
    while (capacity < 4 * (live + 1)) {
        capacity *= 2;
    }
    Entry *entries = PyMem_Calloc(capacity, sizeof(Entry));
    size_t dead = self->used - live;
    PyObject **trash = dead ? PyMem_Malloc(3 * dead * sizeof(PyObject *)) : NULL;
    if (entries == NULL || (dead && trash == NULL)) {
        PyMem_Free(entries);
        PyMem_Free(trash);
        PyErr_NoMemory();
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < self->capacity; i++) {
        Entry *old = &self->entries[i];
        if (old->ref == NULL) {
            continue;
        }
        if (referent(old->ref) == Py_None) {
            trash[n++] = old->ref;
            trash[n++] = old->node;
            trash[n++] = old->slots;
        }
        else {
            *find(entries, capacity, old->key) = *old;
        }
    }
    PyMem_Free(self->entries);
    self->entries = entries;
    self->capacity = capacity;
    self->used = live;
    *garbage = trash;
    *dropped = n;
    return 0;
}

static PyObject *
records_remember(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    Records *self = (Records *)op;
    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "remember() takes 2 or 3 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *obj = args[0];
    /* First, as making it may run the garbage collector and with it any code. */
    PyObject *ref = PyWeakref_NewRef(obj, NULL);
    if (ref == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError)) {
            return NULL;
        }
        PyErr_Clear(); /* ints, dicts, slotted objects: nothing to attach a record to */
        Py_RETURN_NONE;
    }
    PyObject **garbage = NULL;
    size_t dropped = 0;
    if (2 * (self->used + 1) > self->capacity && rebuild(self, &garbage, &dropped) < 0) {
        Py_DECREF(ref);
        return NULL;
    }
    PyObject *slots = nargs == 3 ? args[2] : self->no_slots;
    Entry *entry = find(self->entries, self->capacity, (uintptr_t)obj);
    PyObject *old[3] = {entry->ref, entry->node, entry->slots};
    if (entry->ref == NULL) {
        self->used++;
    }
    entry->key = (uintptr_t)obj;
    entry->ref = ref;
    entry->node = Py_NewRef(args[1]);
    entry->slots = Py_NewRef(slots);
    /* The table is consistent: now release what it no longer holds. */
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(old[i]);
    }
    for (size_t i = 0; i < dropped; i++) {
        Py_DECREF(garbage[i]);
    }
    PyMem_Free(garbage);
    Py_RETURN_NONE;
}
static PyObject *
records_record_of(PyObject *op, PyObject *obj)
{
    Records *self = (Records *)op;
    if (self->capacity == 0) {
        Py_RETURN_NONE;
    }
    Entry *entry = find(self->entries, self->capacity, (uintptr_t)obj);
    if (entry->ref == NULL || referent(entry->ref) != obj) {
        Py_RETURN_NONE;
    }
    /* Taken before the tuple is made: making it may run code that rebuilds the table. */
    PyObject *node = Py_NewRef(entry->node), *slots = Py_NewRef(entry->slots);
    PyObject *record = PyTuple_Pack(2, node, slots);
    Py_DECREF(node);
    Py_DECREF(slots);
    return record;
}

static Py_ssize_t
records_len(PyObject *op)
{
    return (Py_ssize_t)((Records *)op)->used;
}

static PyObject *
records_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "Records() takes no arguments");
        return NULL;
    }
    Records *self = (Records *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    /* No entries yet (capacity 0): the first record allocates them. */
    self->no_slots = PyTuple_New(0);
    if (self->no_slots == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int
records_traverse(PyObject *op, visitproc visit, void *arg)
{
    Records *self = (Records *)op;
    Py_VISIT(Py_TYPE(op));
    for (size_t i = 0; i < self->capacity; i++) {
        Py_VISIT(self->entries[i].ref);
        Py_VISIT(self->entries[i].node);
        Py_VISIT(self->entries[i].slots);
    }
    return 0;
}

static int
records_clear(PyObject *op)
{
    Records *self = (Records *)op;
    /* Emptied before each release: releasing a record may run code that records into this
     * table again, so repeat until nothing was added. */
    while (self->entries != NULL) {
        Entry *entries = self->entries;
        size_t capacity = self->capacity;
        self->entries = NULL;
        self->capacity = 0;
        self->used = 0;
        for (size_t i = 0; i < capacity; i++) {
            Py_XDECREF(entries[i].ref);
            Py_XDECREF(entries[i].node);
            Py_XDECREF(entries[i].slots);
        }
        PyMem_Free(entries);
    }
    return 0;
}

static void
records_dealloc(PyObject *op)
{
    Records *self = (Records *)op;
    PyTypeObject *type = Py_TYPE(op);
    PyObject_GC_UnTrack(op);
    (void)records_clear(op);
    Py_CLEAR(self->no_slots);
    type->tp_free(op);
    Py_DECREF(type);
}

static PyMethodDef records_methods[] = {
    {"remember", (PyCFunction)(void (*)(void))records_remember, METH_FASTCALL,
     "remember(obj, node, slots=()): record that obj was built by node, unless obj takes no "
     "weak reference."},
    {"record_of", records_record_of, METH_O,
     "record_of(obj): (node, slots) if obj is a live object this table recorded, else None."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot records_slots[] = {
    {Py_tp_new, records_new},
    {Py_tp_traverse, records_traverse},
    {Py_tp_clear, records_clear},
    {Py_tp_dealloc, records_dealloc},
    {Py_tp_methods, records_methods},
    {Py_mp_length, records_len},
    {Py_tp_doc, "Records(): weak provenance records keyed by object identity."},
    {0, NULL},
};

static PyType_Spec records_spec = {
    .name = "registry._speedups.Records",
    .basicsize = sizeof(Records),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = records_slots,
};

static PyMethodDef module_methods[] = {
    {NULL, NULL, 0, NULL},
};

static int
add_type(PyObject *module, PyType_Spec *spec, const char *name)
{
    PyObject *type = PyType_FromModuleAndSpec(module, spec, NULL);
    if (type == NULL) {
        return -1;
    }
    int failed = PyModule_AddObjectRef(module, name, type);
    Py_DECREF(type);
    return failed;
}

static int
module_exec(PyObject *module)
{
    return add_type(module, &getter_spec, "Getter") || add_type(module, &records_spec, "Records")
               ? -1
               : 0;
}

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "registry._speedups",
    .m_doc = "Optional C versions of Registry.get_artifact's hit and of provenance records.",
    .m_size = 0,
    .m_methods = module_methods,
    .m_slots = module_slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
