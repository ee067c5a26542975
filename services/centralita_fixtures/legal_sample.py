"""Deterministic generator of realistic Spanish municipal norms, with the ground truth tests and bench use.

Same seed and size -> the same corpus, byte for byte. Every document records its topic and subtopic
(`Truth`), which is what relevance judgements are derived from.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from legal_search.models import TYPE_LABEL
from legal_search.text import slug

MUNICIPALITIES: list[tuple[str, float]] = [
    ("Carlos Tejedor", 1.6),
    ("Merlo", 2.2),
    ("General Pueyrredón", 1.9),
    ("La Plata", 2.0),
    ("Bahía Blanca", 1.7),
    ("Tandil", 1.3),
    ("Olavarría", 1.1),
    ("Pergamino", 1.0),
    ("Junín", 1.0),
    ("Trenque Lauquen", 0.8),
    ("Coronel Suárez", 0.7),
    ("General Villegas", 0.75),
    ("Lomas de Zamora", 1.5),
    ("Quilmes", 1.4),
    ("Morón", 1.2),
    ("Tres Arroyos", 0.65),
    ("Azul", 0.9),
    ("Chivilcoy", 0.6),
    ("San Nicolás", 1.05),
    ("Pehuajó", 0.55),
]
TYPES: list[tuple[str, float]] = [
    ("decreto", 0.40),
    ("ordenanza", 0.26),
    ("resolucion", 0.15),
    ("disposicion", 0.11),
    ("convenio", 0.08),
]
STATUSES = [("vigente", 0.84), ("derogada", 0.1), ("modificada", 0.06)]
YEARS = list(range(2015, 2026))

# topic -> (label, subtopics{key: (title phrase, distinctive sentences)}, vocabulary for considerandos)
TOPICS: dict[str, dict] = {
    "sueldos": {
        "label": "sueldos",
        "office": "Secretaría de Hacienda",
        "subtopics": {
            "aumento": (
                "Aumento salarial para el personal municipal",
                [
                    "Otórgase un incremento del {pct}% sobre el sueldo básico de todas las categorías "
                    "del escalafón municipal",
                    "el aumento salarial se liquidará con los haberes del mes de {mes}",
                ],
            ),
            "antiguedad": (
                "Bonificación por antigüedad del personal",
                [
                    "Fíjase la bonificación por antigüedad en un {pct}% del sueldo básico por cada año de servicio",
                    "la bonificación por antigüedad integra la remuneración mensual",
                ],
            ),
            "escalafon": (
                "Escala de sueldos del escalafón municipal",
                [
                    "Apruébase la escala de sueldos básicos del personal de planta permanente",
                    "los agentes percibirán las remuneraciones que se detallan en la planilla anexa",
                ],
            ),
        },
        "vocab": [
            "la recomposición salarial acordada en paritarias con el sindicato de trabajadores municipales",
            "el deterioro del poder adquisitivo de los salarios de los agentes municipales",
            "la disponibilidad presupuestaria de la partida de personal",
        ],
        "table": ("Escala de sueldos básicos", ["Categoría", "Sueldo básico"], ["Categoría {i}", "$ {amt}"]),
    },
    "transito": {
        "label": "tránsito",
        "office": "Dirección de Tránsito",
        "subtopics": {
            "estacionamiento": (
                "Régimen de estacionamiento medido en el centro",
                [
                    "Establécese el sistema de estacionamiento medido y pago en el radio céntrico",
                    "el valor de la hora de estacionamiento medido será de $ {amt}",
                ],
            ),
            "licencias": (
                "Licencias de conducir: requisitos y aranceles",
                [
                    "Las licencias de conducir se otorgarán previo examen teórico y práctico",
                    "la renovación de la licencia de conducir requiere certificado de aptitud psicofísica",
                ],
            ),
            "velocidad": (
                "Límites de velocidad y reductores en avenidas",
                [
                    "Fíjase la velocidad máxima de circulación en 40 km/h en las avenidas del ejido urbano",
                    "se instalarán reductores de velocidad frente a establecimientos escolares",
                ],
            ),
        },
        "vocab": [
            "la seguridad vial y el ordenamiento del tránsito vehicular en el distrito",
            "los siniestros viales registrados en las arterias principales",
            "las infracciones de tránsito labradas por los inspectores",
        ],
        "table": ("Valores de infracciones de tránsito", ["Infracción", "Multa"], ["Infracción tipo {i}", "$ {amt}"]),
    },
    "habilitaciones": {
        "label": "habilitaciones",
        "office": "Dirección de Habilitaciones",
        "subtopics": {
            "comercios": (
                "Régimen de habilitación de comercios e industrias",
                [
                    "Todo comercio o industria deberá obtener la habilitación municipal antes de iniciar "
                    "sus actividades",
                    "la solicitud de habilitación comercial se presentará con plano "
                    "del local y certificado de bomberos",
                ],
            ),
            "gastronomicos": (
                "Habilitación de locales gastronómicos y bares",
                [
                    "Los locales gastronómicos, bares y confiterías deberán contar con habilitación bromatológica",
                    "se exigirá libreta sanitaria a todo el personal que manipule alimentos",
                ],
            ),
            "nocturnos": (
                "Habilitación de locales de esparcimiento nocturno",
                [
                    "Los locales bailables y de esparcimiento nocturno requerirán habilitación especial",
                    "el horario de cierre de los locales nocturnos será a las 5 horas",
                ],
            ),
        },
        "vocab": [
            "la necesidad de simplificar los trámites de habilitación de comercios",
            "las inspecciones de seguridad e higiene en los establecimientos",
            "el registro municipal de actividades comerciales",
        ],
        "table": ("Aranceles de habilitación", ["Rubro", "Arancel"], ["Rubro {i}", "$ {amt}"]),
    },
    "tasas": {
        "label": "tasas",
        "office": "Secretaría de Hacienda",
        "subtopics": {
            "abl": (
                "Tasa por alumbrado, barrido y limpieza",
                [
                    "Fíjanse los valores de la tasa por alumbrado, barrido y limpieza para el ejercicio {year}",
                    "la tasa de alumbrado, barrido y limpieza se abonará en seis cuotas bimestrales",
                ],
            ),
            "higiene": (
                "Tasa por inspección de seguridad e higiene",
                [
                    "La tasa por inspección de seguridad e higiene se liquidará sobre los ingresos brutos",
                    "los contribuyentes de la tasa de seguridad e higiene presentarán declaración jurada anual",
                ],
            ),
            "vial": (
                "Tasa vial y conservación de caminos rurales",
                [
                    "Establécese la tasa por conservación de la red vial rural por hectárea",
                    "lo recaudado por la tasa vial se afectará al mantenimiento de caminos rurales",
                ],
            ),
        },
        "vocab": [
            "la ordenanza fiscal e impositiva vigente",
            "la necesidad de actualizar las tasas municipales conforme la inflación",
            "el cumplimiento de las obligaciones tributarias de los contribuyentes",
        ],
        "table": ("Valores de la tasa", ["Categoría", "Importe"], ["Zona {i}", "$ {amt}"]),
    },
    "salud": {
        "label": "salud",
        "office": "Secretaría de Salud",
        "subtopics": {
            "vacunacion": (
                "Campaña de vacunación antigripal",
                [
                    "Dispónese la campaña de vacunación antigripal en todos los centros de atención primaria",
                    "la vacunación será gratuita para mayores de 65 años y grupos de riesgo",
                ],
            ),
            "dengue": (
                "Prevención del dengue y descacharrizado",
                [
                    "Declárase la emergencia sanitaria por dengue en el partido",
                    "se realizarán operativos de fumigación y descacharrizado en los barrios",
                ],
            ),
            "hospital": (
                "Equipamiento del hospital municipal",
                [
                    "Apruébase la adquisición de equipamiento médico para el hospital municipal",
                    "el servicio de guardia del hospital funcionará las 24 horas",
                ],
            ),
        },
        "vocab": [
            "la atención primaria de la salud de la población",
            "el sistema público de salud municipal",
            "las recomendaciones del Ministerio de Salud de la Provincia de Buenos Aires",
        ],
        "table": None,
    },
    "educacion": {
        "label": "educación",
        "office": "Secretaría de Educación",
        "subtopics": {
            "becas": (
                "Programa de becas estudiantiles",
                [
                    "Créase el programa municipal de becas para estudiantes universitarios y terciarios",
                    "el monto de la beca estudiantil será de $ {amt} mensuales",
                ],
            ),
            "jardines": (
                "Jardines maternales municipales",
                [
                    "Los jardines maternales municipales atenderán a niños de 45 días a 3 años",
                    "la inscripción en los jardines maternales se realizará en el mes de {mes}",
                ],
            ),
            "fondo_educativo": (
                "Afectación del fondo educativo",
                [
                    "Aféctanse los recursos del fondo educativo a obras en escuelas públicas",
                    "el fondo de financiamiento educativo se destinará a infraestructura escolar",
                ],
            ),
        },
        "vocab": [
            "la educación pública como política de Estado",
            "el Consejo Escolar del distrito",
            "la terminalidad educativa de jóvenes y adultos",
        ],
        "table": None,
    },
    "obras": {
        "label": "obras públicas",
        "office": "Secretaría de Obras Públicas",
        "subtopics": {
            "pavimento": (
                "Obra de pavimentación de calles",
                [
                    "Declárase de utilidad pública la obra de pavimentación de calles del barrio",
                    "el costo de la obra de pavimento será prorrateado entre los frentistas",
                ],
            ),
            "licitacion": (
                "Licitación pública para obras de cloacas",
                [
                    "Llámase a licitación pública para la ejecución de la red de desagües cloacales",
                    "la apertura de sobres de la licitación se realizará el día {dia} de {mes}",
                ],
            ),
            "alumbrado": (
                "Recambio de luminarias LED en el alumbrado público",
                [
                    "Apruébase el recambio de luminarias de sodio por tecnología LED",
                    "el plan de alumbrado público LED alcanzará a todas las avenidas",
                ],
            ),
        },
        "vocab": [
            "el plan de obras públicas del ejercicio",
            "la mejora de la infraestructura urbana",
            "el convenio de financiamiento con el Ministerio de Infraestructura",
        ],
        "table": ("Presupuesto oficial de la obra", ["Ítem", "Monto"], ["Ítem {i}", "$ {amt}"]),
    },
    "ambiente": {
        "label": "medio ambiente",
        "office": "Dirección de Medio Ambiente",
        "subtopics": {
            "residuos": (
                "Gestión integral de residuos sólidos urbanos",
                [
                    "Establécese la separación en origen de los residuos sólidos urbanos",
                    "los residuos reciclables se recolectarán los días miércoles",
                ],
            ),
            "arbolado": (
                "Protección del arbolado público",
                [
                    "Prohíbese la poda y extracción de árboles del arbolado público sin autorización",
                    "la reposición de ejemplares del arbolado urbano estará a cargo del frentista",
                ],
            ),
            "agroquimicos": (
                "Uso de agroquímicos en zonas periurbanas",
                [
                    "Prohíbese la aplicación de agroquímicos a menos de 500 metros de las zonas urbanas",
                    "las pulverizaciones terrestres deberán notificarse con 48 horas de anticipación",
                ],
            ),
        },
        "vocab": [
            "la protección del ambiente y los recursos naturales",
            "la Ley General del Ambiente 25.675",
            "la preservación de la calidad de vida de los vecinos",
        ],
        "table": None,
    },
    "presupuesto": {
        "label": "presupuesto",
        "office": "Contaduría Municipal",
        "subtopics": {
            "general": (
                "Presupuesto general de gastos y cálculo de recursos",
                [
                    "Fíjase en $ {amt} el presupuesto general de gastos de la administración municipal",
                    "estímase el cálculo de recursos destinado a financiar el presupuesto",
                ],
            ),
            "ampliacion": (
                "Ampliación de partidas presupuestarias",
                [
                    "Amplíase el presupuesto de gastos vigente mediante transferencia de partidas",
                    "la ampliación presupuestaria se financiará con el superávit del ejercicio anterior",
                ],
            ),
            "endeudamiento": (
                "Autorización de endeudamiento",
                [
                    "Autorízase al Departamento Ejecutivo a contraer un préstamo por $ {amt}",
                    "el endeudamiento se destinará exclusivamente a obras de infraestructura",
                ],
            ),
        },
        "vocab": [
            "la Ley Orgánica de las Municipalidades",
            "el Reglamento de Contabilidad y Disposiciones de Administración",
            "la ejecución presupuestaria del ejercicio",
        ],
        "table": ("Distribución por finalidad", ["Finalidad", "Importe"], ["Finalidad {i}", "$ {amt}"]),
    },
    "cultura": {
        "label": "cultura",
        "office": "Dirección de Cultura",
        "subtopics": {
            "fiesta": (
                "Declaración de interés municipal de la fiesta popular",
                [
                    "Declárase de interés municipal la fiesta popular tradicional del partido",
                    "la fiesta contará con espectáculos musicales y feria de artesanos",
                ],
            ),
            "patrimonio": (
                "Patrimonio histórico y arquitectónico",
                [
                    "Declárase patrimonio histórico municipal el edificio de la antigua estación ferroviaria",
                    "los inmuebles de valor patrimonial no podrán ser demolidos",
                ],
            ),
            "biblioteca": (
                "Subsidio a bibliotecas populares",
                [
                    "Otórgase un subsidio de $ {amt} a las bibliotecas populares del distrito",
                    "las bibliotecas populares rendirán cuenta del subsidio recibido",
                ],
            ),
        },
        "vocab": [
            "la promoción de las expresiones culturales locales",
            "la identidad cultural de la comunidad",
            "el acceso de los vecinos a los bienes culturales",
        ],
        "table": None,
    },
    "deportes": {
        "label": "deportes",
        "office": "Dirección de Deportes",
        "subtopics": {
            "clubes": (
                "Subsidios a clubes de barrio",
                [
                    "Otórgase un subsidio a los clubes de barrio para el pago de servicios",
                    "los clubes beneficiarios deberán acreditar personería jurídica",
                ],
            ),
            "polideportivo": (
                "Uso del polideportivo municipal",
                [
                    "Apruébase el reglamento de uso del polideportivo municipal",
                    "las escuelas deportivas municipales funcionarán en el polideportivo",
                ],
            ),
            "maraton": (
                "Maratón y corridas de calle",
                [
                    "Autorízase la realización de la maratón anual por las calles de la ciudad",
                    "se dispondrá el corte de tránsito en el recorrido de la maratón",
                ],
            ),
        },
        "vocab": [
            "la práctica deportiva como herramienta de inclusión social",
            "el deporte comunitario",
            "las instituciones deportivas del distrito",
        ],
        "table": None,
    },
    "seguridad": {
        "label": "seguridad",
        "office": "Secretaría de Seguridad",
        "subtopics": {
            "camaras": (
                "Sistema de cámaras de monitoreo urbano",
                [
                    "Amplíase el sistema de cámaras de videovigilancia del centro de monitoreo",
                    "las imágenes de las cámaras de seguridad se conservarán por 30 días",
                ],
            ),
            "guardia_urbana": (
                "Creación de la guardia urbana",
                [
                    "Créase la guardia urbana municipal con funciones de prevención",
                    "los agentes de la guardia urbana patrullarán los barrios",
                ],
            ),
            "defensa_civil": (
                "Defensa civil y emergencias",
                [
                    "Apruébase el plan municipal de defensa civil ante inundaciones",
                    "la junta de defensa civil coordinará la evacuación de vecinos",
                ],
            ),
        },
        "vocab": [
            "la seguridad ciudadana y la prevención del delito",
            "el convenio con el Ministerio de Seguridad",
            "la coordinación con la policía comunal",
        ],
        "table": None,
    },
}
# More ways each subtopic is written (inflections, verb/noun forms, synonyms), as real norms vary:
# a document uses two of its subtopic's sentences and one of its titles.
VARIANTS: dict[tuple[str, str], tuple[list[str], list[str]]] = {
    ("sueldos", "aumento"): (
        ["Incremento de los sueldos del personal", "Aumentos salariales del personal municipal"],
        [
            "Increméntanse los sueldos básicos de los agentes en un {pct}%",
            "los aumentos de salarios alcanzan al personal de planta permanente y temporario",
        ],
    ),
    ("sueldos", "antiguedad"): (
        ["Adicional por antigüedad de los agentes"],
        [
            "El adicional por años de antigüedad se calculará sobre el salario básico",
            "las bonificaciones por antigüedad se abonarán mensualmente",
        ],
    ),
    ("sueldos", "escalafon"): (
        ["Escalas salariales del personal", "Sueldo básico de cada categoría"],
        [
            "Fíjanse los salarios básicos de cada categoría del escalafón",
            "la escala salarial se aplicará a las liquidaciones de haberes",
        ],
    ),
    ("transito", "estacionamiento"): (
        ["Estacionamientos medidos: tarifas y zonas"],
        [
            "Modifícanse las tarifas de los estacionamientos medidos del radio céntrico",
            "se podrá estacionar en la zona medida abonando la tarifa por hora",
        ],
    ),
    ("transito", "licencias"): (
        ["Licencia de conducir: renovación y aranceles"],
        [
            "Para obtener la licencia de conductor se rendirá un examen de manejo",
            "los conductores renovarán sus licencias cada cinco años",
        ],
    ),
    ("transito", "velocidad"): (
        ["Velocidades máximas y reductores de velocidad"],
        [
            "Redúcese la velocidad permitida en las avenidas a 40 km/h",
            "se colocarán lomos de burro y reductores frente a las escuelas",
        ],
    ),
    ("habilitaciones", "comercios"): (
        ["Habilitaciones comerciales e industriales"],
        [
            "Ningún comercio podrá funcionar sin estar habilitado por la Municipalidad",
            "para habilitar un local comercial se requiere el certificado de bomberos",
        ],
    ),
    ("habilitaciones", "gastronomicos"): (
        ["Bares, restaurantes y confiterías: habilitaciones"],
        [
            "Los bares y restaurantes deberán habilitarse ante la Dirección de Bromatología",
            "la habilitación gastronómica exige libretas sanitarias vigentes",
        ],
    ),
    ("habilitaciones", "nocturnos"): (
        ["Locales bailables: habilitación y horarios"],
        [
            "Los boliches y locales bailables cerrarán sus puertas a las 5 horas",
            "la habilitación de locales nocturnos requiere un plan de evacuación",
        ],
    ),
    ("tasas", "abl"): (
        ["Tasas de alumbrado, barrido y limpieza"],
        [
            "Actualízanse las tasas por servicios de alumbrado, barrido y limpieza de la vía pública",
            "la tasa de limpieza y alumbrado se liquidará por metro de frente",
        ],
    ),
    ("tasas", "higiene"): (
        ["Tasas de inspección de seguridad e higiene"],
        [
            "Los comercios abonarán la tasa por inspección de seguridad e higiene en forma mensual",
            "las tasas de seguridad e higiene se calcularán según los ingresos declarados",
        ],
    ),
    ("tasas", "vial"): (
        ["Tasas viales rurales"],
        [
            "Fíjase el valor de la tasa vial por hectárea de los inmuebles rurales",
            "lo recaudado por tasas viales se destinará a mantener los caminos rurales",
        ],
    ),
    ("salud", "vacunacion"): (
        ["Vacunación antigripal: campaña anual"],
        [
            "Se vacunará contra la gripe en todos los centros de salud",
            "las vacunas antigripales serán gratuitas para los grupos de riesgo",
        ],
    ),
    ("salud", "dengue"): (
        ["Dengue: emergencia y descacharrizado"],
        [
            "Dispónense operativos de fumigación contra el mosquito transmisor del dengue",
            "los vecinos deberán descacharrizar patios y terrenos para prevenir el dengue",
        ],
    ),
    ("salud", "hospital"): (
        ["Hospital municipal: compra de equipos"],
        [
            "Adquiérense equipos médicos para la guardia del hospital",
            "el equipamiento hospitalario se adquirirá por licitación",
        ],
    ),
    ("educacion", "becas"): (
        ["Becas estudiantiles universitarias"],
        [
            "Otórganse becas a estudiantes universitarios del distrito",
            "los becarios deberán acreditar la regularidad de sus estudios",
        ],
    ),
    ("educacion", "jardines"): (
        ["Jardín maternal municipal: inscripciones"],
        [
            "Ábrese la inscripción para el jardín maternal municipal",
            "los jardines maternales recibirán a los hijos de los trabajadores",
        ],
    ),
    ("educacion", "fondo_educativo"): (
        ["Fondo educativo: afectación de recursos"],
        [
            "Los fondos educativos se aplicarán al mantenimiento de escuelas",
            "el fondo educativo financiará obras en establecimientos escolares",
        ],
    ),
    ("obras", "pavimento"): (
        ["Pavimentos en calles de tierra"],
        ["Se pavimentarán las calles de tierra del barrio", "los frentistas abonarán el pavimento en cuotas"],
    ),
    ("obras", "licitacion"): (
        ["Cloacas: llamado a licitación"],
        [
            "Licítase la obra de extensión de la red cloacal",
            "las ofertas para la licitación de cloacas se abrirán en acto público",
        ],
    ),
    ("obras", "alumbrado"): (
        ["Luminarias LED para el alumbrado"],
        [
            "Reemplázanse las luminarias de sodio por luminarias LED",
            "las nuevas luminarias LED reducirán el consumo eléctrico",
        ],
    ),
    ("ambiente", "residuos"): (
        ["Residuos reciclables: separación en origen"],
        [
            "Los vecinos separarán los residuos reciclables de los residuos húmedos",
            "la recolección diferenciada de residuos se hará los miércoles",
        ],
    ),
    ("ambiente", "arbolado"): (
        ["Árboles del arbolado urbano: poda"],
        [
            "Prohíbese podar o talar árboles de las veredas sin permiso municipal",
            "quien extraiga un árbol deberá reponer otro ejemplar",
        ],
    ),
    ("ambiente", "agroquimicos"): (
        ["Agroquímicos: distancias de aplicación"],
        [
            "No se podrán aplicar agroquímicos a menos de 500 metros de las viviendas",
            "las fumigaciones con agroquímicos se notificarán con anticipación",
        ],
    ),
    ("presupuesto", "general"): (
        ["Presupuesto de gastos del ejercicio"],
        [
            "Apruébase el presupuesto de gastos de la administración central",
            "los recursos presupuestados financiarán los gastos del ejercicio",
        ],
    ),
    ("presupuesto", "ampliacion"): (
        ["Ampliaciones presupuestarias"],
        [
            "Amplíanse las partidas del presupuesto vigente",
            "las partidas presupuestarias ampliadas se financian con economías",
        ],
    ),
    ("presupuesto", "endeudamiento"): (
        ["Préstamo para obras: autorización"],
        [
            "Autorízase a tomar un préstamo con el Banco de la Provincia",
            "el préstamo se amortizará en cuarenta y ocho cuotas",
        ],
    ),
    ("cultura", "fiesta"): (
        ["Fiestas populares de interés municipal"],
        [
            "Declárase de interés municipal la fiesta tradicional y sus festejos",
            "las fiestas populares contarán con artesanos y músicos locales",
        ],
    ),
    ("cultura", "patrimonio"): (
        ["Edificios de valor patrimonial"],
        [
            "Incorpórase el edificio al patrimonio histórico del distrito",
            "los edificios patrimoniales no podrán demolerse",
        ],
    ),
    ("cultura", "biblioteca"): (
        ["Bibliotecas populares: subsidios"],
        ["Subsidiase a las bibliotecas populares del partido", "la biblioteca popular rendirá cuentas del subsidio"],
    ),
    ("deportes", "clubes"): (
        ["Clubes barriales: ayudas económicas"],
        [
            "Otórgase ayuda económica a los clubes barriales",
            "los clubes de barrio destinarán el subsidio a pagar servicios",
        ],
    ),
    ("deportes", "polideportivo"): (
        ["Polideportivo municipal: reglamento"],
        [
            "El polideportivo municipal abrirá de lunes a sábado",
            "las escuelas deportivas usarán las canchas del polideportivo",
        ],
    ),
    ("deportes", "maraton"): (
        ["Maratones y corridas urbanas"],
        ["Autorízase la corrida urbana anual", "los corredores de la maratón recorrerán las avenidas principales"],
    ),
    ("seguridad", "camaras"): (
        ["Cámaras de seguridad urbana"],
        [
            "Instálanse nuevas cámaras de seguridad en los barrios",
            "el centro de monitoreo recibirá las imágenes de las cámaras",
        ],
    ),
    ("seguridad", "guardia_urbana"): (
        ["Guardia urbana: funciones"],
        [
            "La guardia urbana realizará tareas de prevención en la vía pública",
            "los guardias urbanos recorrerán los barrios en turnos rotativos",
        ],
    ),
    ("seguridad", "defensa_civil"): (
        ["Emergencias e inundaciones: defensa civil"],
        ["Apruébase el protocolo de evacuación ante inundaciones", "defensa civil asistirá a los vecinos evacuados"],
    ),
}
MESES = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
]
FILLER = [
    "Que ha tomado intervención la Asesoría Letrada sin formular objeciones",
    "Que la Contaduría Municipal informa que existe crédito presupuestario suficiente",
    "Que la presente medida se dicta en uso de las atribuciones conferidas por la Ley Orgánica de las Municipalidades",
    "Que el expediente cuenta con los informes técnicos de las áreas competentes",
    "Que corresponde dictar el acto administrativo pertinente",
    "Que resulta necesario dar publicidad a lo actuado",
]

# Articles and considerandos every bulletin carries whatever its subject: with `long=True` a document
# gets several of them and a longer table, to the several KB of real bulletin texts (bench only).
BOILERPLATE_ARTICLES = [
    "El gasto que demande el cumplimiento de la presente será imputado a la partida correspondiente del "
    "presupuesto de gastos vigente, Jurisdicción {j}, Programa {p}, Actividad {a}",
    "La autoridad de aplicación podrá requerir la colaboración de las demás dependencias municipales y "
    "celebrar los convenios que resulten necesarios para el cumplimiento de sus fines",
    "Deléganse en la Secretaría de Gobierno las facultades de reglamentación, interpretación y control de "
    "lo dispuesto en la presente, debiendo informar trimestralmente al Departamento Deliberativo",
    "Las infracciones a la presente serán sancionadas conforme al Código de Faltas Municipal, sin perjuicio "
    "de las acciones civiles y penales que pudieran corresponder",
    "Derógase toda otra norma de igual o inferior jerarquía que se oponga a lo establecido en la presente",
    "La presente entrará en vigencia a partir del día siguiente al de su publicación en el Boletín Oficial "
    "Municipal y será refrendada por el señor Secretario del área",
    "Notifíquese a las áreas intervinientes, a la Contaduría, a la Tesorería y a la Oficina de Compras, "
    "remitiéndose copia certificada al Honorable Tribunal de Cuentas de la Provincia",
    "Encomiéndase a la Dirección de Prensa y Comunicación la difusión de la presente por los medios oficiales "
    "y su publicación en el sitio web de la Municipalidad",
    "Los plazos establecidos en la presente se computarán en días hábiles administrativos, conforme a la "
    "Ordenanza General de Procedimiento Administrativo",
    "Autorízase a la Contaduría Municipal a efectuar las adecuaciones presupuestarias necesarias para dar "
    "cumplimiento a lo dispuesto, dentro de los créditos asignados al ejercicio {year}",
    "La autoridad de aplicación llevará un registro actualizado de las actuaciones y elevará un informe anual "
    "con los resultados obtenidos y las observaciones formuladas por los vecinos",
    "Invítase a las instituciones intermedias, entidades vecinales y organizaciones de la sociedad civil a "
    "adherir a lo dispuesto y a colaborar en su difusión",
]
BOILERPLATE_CONSIDERANDOS = [
    "Que la Dirección de Asuntos Legales ha emitido dictamen favorable a fojas {p} de las actuaciones",
    "Que el artículo 108 de la Ley Orgánica de las Municipalidades faculta al Departamento Ejecutivo a "
    "reglamentar las ordenanzas y dictar los actos administrativos necesarios",
    "Que la Comisión de Legislación, Interpretación y Reglamento ha tomado intervención en las presentes "
    "actuaciones aconsejando su aprobación",
    "Que la Secretaría de Economía y Hacienda informa la imputación preventiva del gasto en la partida {j}",
    "Que se ha dado cumplimiento a lo establecido en el Reglamento de Contabilidad y Disposiciones de "
    "Administración para los Municipios de la Provincia de Buenos Aires",
    "Que el Honorable Concejo Deliberante ha prestado acuerdo en sesión ordinaria de fecha {dia} de {mes}",
]


# The seed's example document: Merlo, ordenanza 2947 of 2024, on habilitaciones.
FIXED = {
    "municipality": "Merlo",
    "type": "ordenanza",
    "number": "2947",
    "year": 2024,
    "topic": "habilitaciones",
    "subtopic": "comercios",
    "date": "2024-05-13",
}


@dataclass(frozen=True)
class Truth:
    """What a generated document is about (not stored in the database)."""

    id: str
    municipality: str
    type: str
    number: str
    year: int
    date: str
    status: str
    topic: str
    subtopic: str
    mentions: tuple[str, ...]


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> str:
    return rng.choices([i for i, _ in items], weights=[w for _, w in items], k=1)[0]


def _amount(rng: random.Random) -> str:
    return f"{rng.randrange(5_000, 2_500_000, 500):,}".replace(",", ".")


def _fill(text: str, rng: random.Random, year: int) -> str:
    return text.format(
        pct=rng.choice([5, 8, 10, 12, 15, 20]),
        mes=rng.choice(MESES),
        amt=_amount(rng),
        year=year,
        dia=rng.randint(1, 28),
        i="",
    )


def _intro(doc_type: str, muni: str, office: str) -> str:
    upper = muni.upper()
    return {
        "ordenanza": f"EL HONORABLE CONCEJO DELIBERANTE DE {upper} SANCIONA CON FUERZA DE ORDENANZA:",
        "decreto": f"EL INTENDENTE MUNICIPAL DE {upper}, en uso de sus atribuciones, DECRETA:",
        "resolucion": f"EL TITULAR DE LA {office.upper()} DE LA MUNICIPALIDAD DE {upper} RESUELVE:",
        "disposicion": f"LA {office.upper()} DE LA MUNICIPALIDAD DE {upper} DISPONE:",
        "convenio": f"Entre la MUNICIPALIDAD DE {upper} y la institución firmante se conviene celebrar el presente "
        "convenio, sujeto a las siguientes cláusulas:",
    }[doc_type]


def _boiler(text: str, rng: random.Random, year: int) -> str:
    return text.format(
        j=rng.randint(1, 12),
        p=rng.randint(10, 99),
        a=rng.randint(1, 9),
        year=year,
        dia=rng.randint(1, 28),
        mes=rng.choice(MESES),
    )


def _document(
    rng: random.Random,
    muni: str,
    doc_type: str,
    number: str,
    year: int,
    date: str,
    status: str,
    topic: str,
    subtopic: str,
    long: bool = False,
) -> tuple[dict, Truth]:
    spec = TOPICS[topic]
    title_phrase, base_sentences = spec["subtopics"][subtopic]
    alt_titles, alt_sentences = VARIANTS.get((topic, subtopic), ([], []))
    title_phrase = rng.choice([title_phrase, title_phrase, *alt_titles])
    sentences = rng.sample([*base_sentences, *alt_sentences], k=2)
    label = TYPE_LABEL[doc_type]
    title = f"{label} N° {number}/{year} — {title_phrase}"
    others = [t for t in TOPICS if t != topic]
    mention = rng.choice(others) if rng.random() < 0.45 else None
    considerandos = [
        f"Que resulta necesario atender {rng.choice(spec['vocab'])}",
        f"Que {_fill(rng.choice(sentences), rng, year).lower()}",
        *rng.sample(FILLER, k=2),
    ]
    if mention:
        considerandos.insert(2, f"Que deberá considerarse además {rng.choice(TOPICS[mention]['vocab'])}")
    articles = [
        {"number": "1°", "text": _fill(sentences[0], rng, year) + "."},
        {"number": "2°", "text": _fill(sentences[1], rng, year).capitalize() + "."},
        {
            "number": "3°",
            "text": f"Facúltase a la {spec['office']} a dictar las normas complementarias "
            f"para la aplicación de la presente.",
        },
        {"number": "4°", "text": "Comuníquese, publíquese, dese al Registro Oficial y archívese."},
    ]
    if long:
        extra = [_boiler(a, rng, year) + "." for a in rng.sample(BOILERPLATE_ARTICLES, k=rng.randint(6, 11))]
        articles = (
            articles[:3]
            + [{"number": f"{k}°", "text": text} for k, text in enumerate(extra, 4)]
            + [{"number": f"{len(extra) + 4}°", "text": articles[3]["text"]}]
        )
        considerandos[3:3] = [_boiler(c, rng, year) for c in rng.sample(BOILERPLATE_CONSIDERANDOS, k=4)]
    tables = []
    if spec["table"] and rng.random() < 0.7:
        ttitle, header, row = spec["table"]
        n_rows = rng.randint(12, 40) if long else rng.randint(3, 6)
        rows = [header] + [
            [row[0].replace("{i}", f"{chr(65 + k % 26)}{k // 26 or ''}"), row[1].replace("{amt}", _amount(rng))]
            for k in range(n_rows)
        ]
        tables.append({"title": ttitle, "rows": rows})
    exp = f"{rng.randint(4000, 4999)}-{rng.randint(100, 9999)}/{year % 100:02d}"
    visto = (
        f"VISTO el expediente N° {exp}, por el cual la {spec['office']} propicia el dictado de una norma "
        f"sobre {title_phrase.lower()}, y"
    )
    content = "\n".join(
        [
            visto,
            "CONSIDERANDO:",
            *[c + ";" for c in considerandos],
            "Por ello,",
            _intro(doc_type, muni, spec["office"]),
            *[f"ARTÍCULO {a['number']}: {a['text']}" for a in articles],
            f"{muni}, {int(date[8:10])} de {MESES[int(date[5:7]) - 1]} de {year}.",
        ]
    )
    doc_id = f"{slug(muni)}-{doc_type}-{number}-{year}"
    doc = {
        "id": doc_id,
        "municipality": muni,
        "type": doc_type,
        "number": number,
        "year": year,
        "date": date,
        "title": title,
        "url": f"https://sibom.slyt.gba.gob.ar/bulletins/{slug(muni)}/{year}/{doc_type}-{number}",
        "status": status,
        "content": content,
        "articles": articles,
        "considerandos": considerandos,
        "tables": tables,
    }
    truth = Truth(doc_id, muni, doc_type, number, year, date, status, topic, subtopic, (mention,) if mention else ())
    return doc, truth


def generate(n: int, seed: int = 3, *, long: bool = False) -> Iterator[tuple[dict, Truth]]:
    """n documents (n >= 1), deterministic for (n, seed, long); always includes merlo-ordenanza-2947-2024.

    `long`: bulletin-length texts (several KB: more articles and considerandos, longer tables).
    """
    rng = random.Random(seed)
    counters: dict[tuple[str, str], int] = {}
    yield _document(
        random.Random(seed * 7919),
        FIXED["municipality"],
        FIXED["type"],
        FIXED["number"],
        FIXED["year"],
        FIXED["date"],
        "vigente",
        FIXED["topic"],
        FIXED["subtopic"],
        long,
    )
    topics = list(TOPICS)
    for _ in range(n - 1):
        muni = _weighted(rng, MUNICIPALITIES)
        doc_type = _weighted(rng, TYPES)
        year = rng.choice(YEARS)
        key = (muni, doc_type)
        base = {"ordenanza": 1000, "decreto": 100, "resolucion": 10, "disposicion": 1, "convenio": 1}[doc_type]
        counters[key] = counters.get(key, base + rng.randint(0, 400)) + rng.randint(1, 3)
        number = str(counters[key])
        if (muni, doc_type, number) == ("Merlo", "ordenanza", "2947"):
            counters[key] += 1
            number = str(counters[key])
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        date = f"{year}-{month:02d}-{day:02d}"
        status = _weighted(rng, STATUSES)
        topic = rng.choice(topics)
        subtopic = rng.choice(list(TOPICS[topic]["subtopics"]))
        yield _document(rng, muni, doc_type, number, year, date, status, topic, subtopic, long)


def write_jsonl(path: Path, n: int, seed: int = 3, *, long: bool = False) -> list[Truth]:
    """Write the corpus as JSON lines and return its ground truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    truths = []
    with path.open("w", encoding="utf-8") as fh:
        for doc, truth in generate(n, seed, long=long):
            fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
            truths.append(truth)
    return truths
